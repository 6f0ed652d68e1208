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

TEST(Token, ATokenThatWouldInjectIntoAHeaderIsAnAuthError) {
  // It is sent as "Authorization: Bearer <token>": RFC 7235 §2.1 token68
  // in practice (JWTs), visible ASCII at the very least.
  for (const char* bad : {R"({"token":"tok\r\nX-Injected: 1"})", R"({"token":"a b"})", R"({"token":"a\u0000b"})",
                          R"({"access_token":"a\nb"})", R"({"token":"caf\u00e9"})"}) {
    try {
      (void)parse_token_response(bad);
      ADD_FAILURE() << bad;
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::auth) << bad;
    }
  }
  EXPECT_EQ(parse_token_response(R"({"token":"eyJhbGciOi.eyJpc3Mi.c2ln-_~+/="})").value, "eyJhbGciOi.eyJpc3Mi.c2ln-_~+/=");
}

TEST(Token, ServiceAndScopeCannotLeaveTheQuery) {
  Challenge bearer{.scheme = "bearer",
                   .params = {{"realm", "https://auth.example.com/token"}, {"service", "s\r\nX-Injected: 1 &a=b#"}},
                   .token68 = {}};
  Url url = token_url(bearer, "repository:a:pull");
  EXPECT_EQ(url.target, "/token?service=s%0D%0AX-Injected%3A%201%20%26a%3Db%23&scope=repository%3Aa%3Apull");
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
  for (const char* realm : {"https://auth.example.com/token\r\nX-Injected: 1", "https://auth.example.com/t x"}) {
    Challenge injecting{.scheme = "bearer", .params = {{"realm", realm}}, .token68 = {}};
    try {
      (void)token_url(injecting, "s");
      ADD_FAILURE() << realm;
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::auth);
      EXPECT_EQ(std::string(e.what()).find_first_of("\r\n"), std::string::npos) << e.what();
    }
  }
}

TEST(Token, LifetimeEndsBeforeTheExpiry) {
  EXPECT_EQ(token_lifetime(std::chrono::seconds(300)), std::chrono::seconds(290));
  EXPECT_EQ(token_lifetime(std::chrono::seconds(60)), std::chrono::seconds(50));
  EXPECT_EQ(token_lifetime(std::chrono::seconds(8)), std::chrono::seconds(6));
}

}  // namespace
}  // namespace gantry::registry::detail
