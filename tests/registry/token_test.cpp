#include "registry/detail/token.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace gantry::registry::detail {
namespace {

TEST(Token, TokenFieldWithExpiry) {
  Token t = parse_token_response(R"({"token":"abc","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"})");
  EXPECT_EQ(t.value, "abc");
  EXPECT_EQ(t.expires_in, std::chrono::seconds(300));
}

TEST(Token, AccessTokenOnlyAndDefaultExpiry) {
  Token t = parse_token_response(R"({"access_token":"xyz"})");
  EXPECT_EQ(t.value, "xyz");
  EXPECT_EQ(t.expires_in, std::chrono::seconds(60));
}

TEST(Token, TokenWinsOverAccessToken) {
  EXPECT_EQ(parse_token_response(R"({"access_token":"b","token":"a"})").value, "a");
  EXPECT_EQ(parse_token_response(R"({"token":"","access_token":"b"})").value, "b");
}

TEST(Token, NonsenseExpiryFallsBackToTheDefault) {
  EXPECT_EQ(parse_token_response(R"({"token":"a","expires_in":0})").expires_in, std::chrono::seconds(60));
  EXPECT_EQ(parse_token_response(R"({"token":"a","expires_in":-5})").expires_in, std::chrono::seconds(60));
  EXPECT_EQ(parse_token_response(R"({"token":"a","expires_in":"300"})").expires_in, std::chrono::seconds(60));
}

TEST(Token, MissingTokenIsAnAuthError) {
  try {
    (void)parse_token_response(R"({"expires_in":300})");
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::auth);
  }
  EXPECT_THROW((void)parse_token_response("not json"), core::Error);
  EXPECT_THROW((void)parse_token_response("[1]"), core::Error);
}

TEST(Token, UrlCarriesServiceAndScopeEscaped) {
  Challenge bearer{.scheme = "bearer",
                   .params = {{"realm", "https://auth.example.com/token"}, {"service", "registry example"}},
                   .token68 = {}};
  Url url = token_url(bearer, "repository:team/app:pull");
  EXPECT_EQ(url.host, "auth.example.com");
  EXPECT_EQ(url.target, "/token?service=registry%20example&scope=repository%3Ateam%2Fapp%3Apull");
}

TEST(Token, UrlKeepsAnExistingQueryAndSkipsEmptyService) {
  Challenge bearer{.scheme = "bearer", .params = {{"realm", "http://127.0.0.1:9000/t?x=1"}}, .token68 = {}};
  Url url = token_url(bearer, "repository:a:pull");
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.port, "9000");
  EXPECT_EQ(url.target, "/t?x=1&scope=repository%3Aa%3Apull");
}

TEST(Token, RealmMustBeAnHttpUrl) {
  Challenge none{.scheme = "bearer", .params = {}, .token68 = {}};
  EXPECT_THROW((void)token_url(none, "s"), core::Error);
  Challenge ftp{.scheme = "bearer", .params = {{"realm", "ftp://x/token"}}, .token68 = {}};
  EXPECT_THROW((void)token_url(ftp, "s"), core::Error);
}

TEST(Token, LifetimeEndsBeforeTheExpiry) {
  EXPECT_EQ(token_lifetime(std::chrono::seconds(300)), std::chrono::seconds(290));
  EXPECT_EQ(token_lifetime(std::chrono::seconds(60)), std::chrono::seconds(50));
  EXPECT_EQ(token_lifetime(std::chrono::seconds(8)), std::chrono::seconds(6));
}

}  // namespace
}  // namespace gantry::registry::detail
