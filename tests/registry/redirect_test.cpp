#include "registry/detail/redirect.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"

namespace gantry::registry::detail {
namespace {

const auto kNothingPlain = [](std::string_view) { return false; };

TEST(Redirect, StatusesFollowed) {
  for (unsigned s : {301u, 302u, 303u, 307u, 308u}) EXPECT_TRUE(is_redirect(s)) << s;
  for (unsigned s : {200u, 300u, 304u, 305u, 404u}) EXPECT_FALSE(is_redirect(s)) << s;
}

TEST(Redirect, LocationForms) {
  Url base = Url::parse("https://reg.example:5000/v2/app/blobs/sha256:ab?x=1");
  EXPECT_EQ(resolve_location(base, "https://cdn.example/b/c?sig=1").string(), "https://cdn.example/b/c?sig=1");
  EXPECT_EQ(resolve_location(base, "//cdn.example:8443/b").string(), "https://cdn.example:8443/b");
  EXPECT_EQ(resolve_location(base, "/other/path?y=2").string(), "https://reg.example:5000/other/path?y=2");
  EXPECT_EQ(resolve_location(base, "sibling").string(), "https://reg.example:5000/v2/app/blobs/sibling");
  EXPECT_EQ(resolve_location(base, "/p#frag").target, "/p");
  EXPECT_THROW((void)resolve_location(base, ""), core::Error);
}

TEST(Redirect, ALocationThatWouldInjectIntoTheNextRequestIsAnErrorNamingTheHost) {
  Url base = Url::parse("https://reg.example:5000/v2/app/blobs/sha256:ab");
  for (const std::string& bad : std::vector<std::string>{"/b\r\nX-Injected: 1", "https://cdn.example/b\r\nX-Injected: 1", "//cdn.example/b\nX: 1",
                          "/b X-Injected: 1", "b c", "/b\tc", std::string("/b\0c", 4), "/caf\xc3\xa9", "https://cdn example/"}) {
    try {
      (void)resolve_location(base, bad);
      ADD_FAILURE() << "followed \"" << bad << "\"";
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::bad_input);
      std::string what = e.what();
      EXPECT_EQ(what.rfind("redirect from reg.example:5000 to an unusable Location", 0), 0u) << what;
      EXPECT_EQ(what.find_first_of(std::string("\r\n\0", 3)), std::string::npos) << what;
    }
  }
}

TEST(Redirect, CredentialsOnlyToTheSameOrigin) {
  Url registry = Url::parse("https://reg.example:5000/");
  EXPECT_TRUE(may_send_credentials(registry, Url::parse("https://reg.example:5000/v2/x/blobs/y")));
  EXPECT_TRUE(may_send_credentials(registry, Url::parse("https://REG.example:5000/other")));
  EXPECT_FALSE(may_send_credentials(registry, Url::parse("https://cdn.example/blob")));
  EXPECT_FALSE(may_send_credentials(registry, Url::parse("https://reg.example:5001/v2/")));    // another port
  EXPECT_FALSE(may_send_credentials(registry, Url::parse("http://reg.example:5000/v2/")));     // another scheme
  EXPECT_FALSE(may_send_credentials(registry, Url::parse("https://reg.example.evil/v2/")));    // a lookalike
  EXPECT_TRUE(may_send_credentials(Url::parse("https://h/"), Url::parse("https://h:443/x")));  // default port spelled
}

TEST(Redirect, ChainsAreBounded) {
  Url url = Url::parse("https://a/1");
  for (int hop = 1; hop <= kMaxRedirects; ++hop) url = follow_redirect(url, "/next", hop, kNothingPlain);
  EXPECT_EQ(url.target, "/next");
  try {
    (void)follow_redirect(url, "/again", kMaxRedirects + 1, kNothingPlain);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::network);
    EXPECT_NE(std::string(e.what()).find("too many redirects"), std::string::npos);
  }
}

TEST(Redirect, NoSilentDowngradeToPlainHttp) {
  Url tls = Url::parse("https://reg.example/v2/x");
  EXPECT_THROW((void)follow_redirect(tls, "http://cdn.example/b", 1, kNothingPlain), core::Error);
  auto cdn_is_plain = [](std::string_view authority) { return authority == "cdn.example:8080"; };
  EXPECT_EQ(follow_redirect(tls, "http://cdn.example:8080/b", 1, cdn_is_plain).string(), "http://cdn.example:8080/b");
  // From plain to plain or to TLS is no downgrade.
  Url plain = Url::parse("http://localhost:5000/v2/x");
  EXPECT_EQ(follow_redirect(plain, "http://127.0.0.1:9000/b", 1, kNothingPlain).port, "9000");
  EXPECT_EQ(follow_redirect(plain, "https://cdn.example/b", 1, kNothingPlain).scheme, "https");
}

}  // namespace
}  // namespace gantry::registry::detail
