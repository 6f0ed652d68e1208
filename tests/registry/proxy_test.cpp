#include "registry/detail/proxy.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "registry/detail/base64.hpp"
#include "tests/support/environment.hpp"

namespace gantry::registry::detail {
namespace {

TEST(ParseProxyUrl, HostPortSchemeAndCredentials) {
  Proxy plain = parse_proxy_url("http://proxy.example:3128", "HTTPS_PROXY");
  EXPECT_EQ(plain.url.string(), "http://proxy.example:3128/");
  EXPECT_EQ(plain.authorization, "");
  // No scheme means http, a missing port 80, as in Go.
  EXPECT_EQ(parse_proxy_url("Proxy.Example", "HTTP_PROXY").url.string(), "http://proxy.example/");
  EXPECT_EQ(parse_proxy_url("[::1]:8080/", "HTTP_PROXY").url.host, "::1");
  Proxy with_user = parse_proxy_url("http://alice:s3cr:et@127.0.0.1:8080", "https_proxy");
  EXPECT_EQ(with_user.url.string(), "http://127.0.0.1:8080/");
  EXPECT_EQ(with_user.authorization, "Basic " + base64_encode("alice:s3cr:et"));
}

TEST(ParseProxyUrl, UnsupportedOrMalformedNamesTheVariable) {
  for (const char* text : {"https://proxy:443", "socks5://proxy:1080", "socks5h://proxy:1080", "ftp://proxy",
                           "http://proxy:3128/path", "http://proxy:99999", "http://user:pa ss@proxy:3128",
                           "http://user:pa\r\nss@proxy:3128", "http://"}) {
    try {
      (void)parse_proxy_url(text, "HTTPS_PROXY");
      ADD_FAILURE() << "accepted " << text;
    } catch (const core::Error& error) {
      EXPECT_EQ(error.kind(), core::ErrorKind::bad_input) << text;
    }
  }
  try {
    (void)parse_proxy_url("socks5://proxy:1080", "ALL_PROXY_TEST");
  } catch (const core::Error& error) {
    EXPECT_NE(std::string(error.what()).find("ALL_PROXY_TEST"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("SOCKS"), std::string::npos) << error.what();
  }
}

TEST(NoProxy, HostsDomainsPortsAndStar) {
  EXPECT_FALSE(no_proxy_matches("", "registry.example", "443"));
  EXPECT_TRUE(no_proxy_matches("*", "registry.example", "443"));
  // A domain with or without its leading dot matches itself and subdomains, not lookalikes.
  for (const char* entry : {"example.com", ".example.com", " Example.COM ", "other, example.com"}) {
    EXPECT_TRUE(no_proxy_matches(entry, "example.com", "443")) << entry;
    EXPECT_TRUE(no_proxy_matches(entry, "registry.example.com", "443")) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "badexample.com", "443")) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "example.com.evil", "443")) << entry;
  }
  // host:port matches that port only.
  EXPECT_TRUE(no_proxy_matches("127.0.0.1:5000", "127.0.0.1", "5000"));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1:5000", "127.0.0.1", "5001"));
  // IPv6 literals, bare or bracketed.
  EXPECT_TRUE(no_proxy_matches("::1", "::1", "443"));
  EXPECT_TRUE(no_proxy_matches("[::1]:5000", "::1", "5000"));
  EXPECT_FALSE(no_proxy_matches("[::1]:5000", "::1", "443"));
  // No implicit loopback exclusion (curl's rule, not Go's), and no CIDR ranges.
  EXPECT_FALSE(no_proxy_matches("example.com", "localhost", "80"));
  EXPECT_FALSE(no_proxy_matches("127.0.0.0/8", "127.0.0.1", "80"));
}

// Environment variables restored afterwards.
class ProxyEnvironmentTest : public ::testing::Test {
 protected:
  static constexpr const char* kNames[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy",
                                           "NO_PROXY"};
  gantry::testing::ScopedEnvironment environment_{kNames};
};

TEST_F(ProxyEnvironmentTest, SchemePicksTheVariableLowerCaseWinsNoProxyExcludes) {
  Url https = Url::parse("https://registry.example/v2/");
  Url http = Url::parse("http://127.0.0.1:5000/v2/");
  EXPECT_EQ(ProxySettings::from_environment().for_url(https), nullptr);

  ::setenv("HTTPS_PROXY", "http://upper:1", 1);
  ::setenv("https_proxy", "http://lower:2", 1);
  ::setenv("HTTP_PROXY", "http://plain:3", 1);
  ProxySettings settings = ProxySettings::from_environment();
  ASSERT_NE(settings.for_url(https), nullptr);
  EXPECT_EQ(settings.for_url(https)->url.string(), "http://lower:2/");
  ASSERT_NE(settings.for_url(http), nullptr);
  EXPECT_EQ(settings.for_url(http)->url.string(), "http://plain:3/");

  ::setenv("NO_PROXY", "registry.example", 1);
  ::setenv("no_proxy", "127.0.0.1", 1);  // wins: registry.example is proxied again
  settings = ProxySettings::from_environment();
  EXPECT_NE(settings.for_url(https), nullptr);
  EXPECT_EQ(settings.for_url(http), nullptr);

  ::setenv("https_proxy", "socks5://proxy:1080", 1);
  EXPECT_THROW((void)ProxySettings::from_environment(), core::Error);
}

}  // namespace
}  // namespace gantry::registry::detail
