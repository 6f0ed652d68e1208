#include "registry/detail/errors.hpp"

#include <gtest/gtest.h>

namespace gantry::registry::detail {
namespace {

using core::ErrorKind;

const core::ErrorContext kContext{.registry = "localhost:5000", .repository = "app"};

TEST(Errors, ErrorBodyOfTheDistributionSpec) {
  auto body = parse_error_body(
      R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v9"}},{"code":"X"}]})");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->code, "MANIFEST_UNKNOWN");
  EXPECT_EQ(body->message, "manifest unknown");
  EXPECT_FALSE(parse_error_body("<html>nope</html>"));
  EXPECT_FALSE(parse_error_body(R"({"errors":[]})"));
}

TEST(Errors, NotFoundUsesTheRegistrysWords) {
  core::Error e = status_error(404, "tag v9", R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})",
                               false, kContext);
  EXPECT_EQ(e.kind(), ErrorKind::not_found);
  EXPECT_EQ(e.message(), "manifest unknown: tag v9 not found");
  EXPECT_EQ(e.context().repository, "app");
  EXPECT_EQ(status_error(404, "blob sha256:ab", "", false, kContext).message(), "404 Not Found: blob sha256:ab not found");
}

TEST(Errors, UnauthorizedSaysWhetherCredentialsWereSent) {
  core::Error wrong = status_error(401, "x", "", true, kContext);
  EXPECT_EQ(wrong.kind(), ErrorKind::auth);
  EXPECT_EQ(wrong.message(), "401 Unauthorized: wrong credentials");
  EXPECT_EQ(status_error(401, "x", "", false, kContext).message(),
            "401 Unauthorized: authentication required, no credentials");
  EXPECT_EQ(status_error(403, "repository app", "", true, kContext).kind(), ErrorKind::auth);
}

TEST(Errors, KindsOfOtherStatuses) {
  EXPECT_EQ(status_error(503, "x", "", false, kContext).kind(), ErrorKind::network);
  EXPECT_EQ(status_error(429, "x", "", false, kContext).kind(), ErrorKind::network);
  EXPECT_EQ(status_error(400, "x", "", false, kContext).kind(), ErrorKind::bad_input);
  EXPECT_EQ(status_error(302, "x", "", false, kContext).kind(), ErrorKind::network);
}

TEST(Errors, MessagesStayOneLineAndBounded) {
  std::string body = R"({"errors":[{"code":"X","message":")" + std::string(1000, 'm') + R"(\nforged line"}]})";
  core::Error e = status_error(500, "x", body, false, kContext);
  EXPECT_LT(e.message().size(), 400u);
  EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
}

TEST(Errors, TransientKeepsKindContextAndRetryAfter) {
  TransientError t(status_error(429, "x", "", false, kContext), std::chrono::seconds(7));
  EXPECT_EQ(t.kind(), ErrorKind::network);
  EXPECT_EQ(t.context().registry, "localhost:5000");
  EXPECT_EQ(t.retry_after(), std::chrono::seconds(7));
}

}  // namespace
}  // namespace gantry::registry::detail
