#include "registry/detail/www_authenticate.hpp"

#include <gtest/gtest.h>

namespace gantry::registry::detail {
namespace {

TEST(WwwAuthenticate, DockerHubBearer) {
  auto challenges = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(challenges[0].param("service"), "registry.docker.io");
  EXPECT_EQ(challenges[0].param("scope"), "repository:library/busybox:pull");
}

TEST(WwwAuthenticate, QuotedCommasStayInTheValue) {
  auto challenges = parse_www_authenticate(R"(Bearer realm="https://a/token",scope="repository:x:pull,push")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].param("scope"), "repository:x:pull,push");
  EXPECT_EQ(challenges[0].params.size(), 2u);
}

TEST(WwwAuthenticate, SeveralChallengesInOneHeader) {
  auto challenges = parse_www_authenticate(R"(Basic realm="Registry Realm", Bearer realm="https://t/x", service="s")");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "basic");
  EXPECT_EQ(challenges[0].param("realm"), "Registry Realm");
  EXPECT_EQ(challenges[1].scheme, "bearer");
  EXPECT_EQ(challenges[1].param("realm"), "https://t/x");
  EXPECT_EQ(challenges[1].param("service"), "s");
}

TEST(WwwAuthenticate, CaseSpacesTokensAndEscapes) {
  auto challenges = parse_www_authenticate(R"(BEARER  Realm = "https://t/\"q\"" , Service=reg.io ,, error=invalid_token)");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].param("realm"), R"(https://t/"q")");
  EXPECT_EQ(challenges[0].param("service"), "reg.io");
  EXPECT_EQ(challenges[0].param("error"), "invalid_token");
}

TEST(WwwAuthenticate, Token68AndBareSchemes) {
  auto challenges = parse_www_authenticate("Negotiate abc+/def==, Basic");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "negotiate");
  EXPECT_EQ(challenges[0].token68, "abc+/def==");
  EXPECT_EQ(challenges[1].scheme, "basic");
  EXPECT_TRUE(challenges[1].params.empty());
}

TEST(WwwAuthenticate, MalformedInputKeepsWhatWasParsed) {
  EXPECT_TRUE(parse_www_authenticate("").empty());
  auto unterminated = parse_www_authenticate(R"(Basic realm="x", Bearer realm="never closed)");
  ASSERT_EQ(unterminated.size(), 2u);
  EXPECT_EQ(unterminated[0].param("realm"), "x");
  EXPECT_EQ(unterminated[1].param("realm"), "");
}

TEST(WwwAuthenticate, PickPrefersBearerThenBasic) {
  auto both = parse_www_authenticate(R"(Basic realm="r", Bearer realm="https://t")");
  auto picked = pick_challenge(both);
  ASSERT_TRUE(picked);
  EXPECT_EQ(picked->scheme, "bearer");
  auto basic = pick_challenge(parse_www_authenticate(R"(Digest nonce="n", Basic realm="r")"));
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->scheme, "basic");
  EXPECT_FALSE(pick_challenge(parse_www_authenticate(R"(Digest nonce="n")")));
}

}  // namespace
}  // namespace gantry::registry::detail
