#include "registry/detail/url.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"

namespace gantry::registry::detail {
namespace {

TEST(Url, ParsesDefaultsAndPorts) {
  Url a = Url::parse("https://Registry.Example.com/v2/x/blobs/sha256:ab?x=1#frag");
  EXPECT_EQ(a.scheme, "https");
  EXPECT_EQ(a.host, "registry.example.com");
  EXPECT_EQ(a.port, "443");
  EXPECT_EQ(a.target, "/v2/x/blobs/sha256:ab?x=1");
  EXPECT_EQ(a.authority(), "registry.example.com");
  EXPECT_EQ(a.origin(), "https://registry.example.com:443");

  Url b = Url::parse("http://127.0.0.1:5000");
  EXPECT_EQ(b.port, "5000");
  EXPECT_EQ(b.target, "/");
  EXPECT_EQ(b.authority(), "127.0.0.1:5000");
  EXPECT_EQ(Url::parse("http://h:80/p").authority(), "h");
  EXPECT_EQ(Url::parse("https://h?q").target, "/?q");
}

TEST(Url, Ipv6Literals) {
  Url u = Url::parse("https://[::1]:5443/v2/");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "5443");
  EXPECT_EQ(u.authority(), "[::1]:5443");
  EXPECT_EQ(u.string(), "https://[::1]:5443/v2/");
  EXPECT_EQ(Url::from_host("http", "[::1]:5000", "/v2/").origin(), "http://[::1]:5000");
}

TEST(Url, FromHostAsReferencesWriteIt) {
  Url u = Url::from_host("https", "localhost:5000", "/v2/");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, "5000");
  EXPECT_EQ(u.string(), "https://localhost:5000/v2/");
  EXPECT_EQ(Url::from_host("https", "registry-1.docker.io", "/v2/").port, "443");
}

TEST(Url, RejectsWhatItCannotConnectTo) {
  for (const char* bad : {"ftp://h/x", "h/x", "https://", "https://:5000/", "https://h:0/", "https://h:65536/",
                          "https://h:x/", "https://user@h/", "https://[::1/", "https://h:/"}) {
    EXPECT_THROW((void)Url::parse(bad), core::Error) << bad;
  }
}

TEST(Url, RejectsWhatWouldBreakARequestLine) {
  // Realms and redirect targets come from the network and go into a
  // request line: a CR, LF, space or other control would inject into it.
  for (const std::string& bad : std::vector<std::string>{"https://h/a\r\nX-Injected: 1", "https://h/a b", "https://h/a\tb", std::string("https://h/a\0b", 13),
                          "https://h\r\nX: 1/a", "https://h/\x7f", "https://h/caf\xc3\xa9", "https://h\xc3\xa9/"}) {
    EXPECT_THROW((void)Url::parse(bad), core::Error) << bad;
  }
  EXPECT_TRUE(is_visible_ascii("/v2/x/blobs/sha256:ab?X-Amz-Signature=a%2Fb&x=~!$'()*+,;=:@"));
  EXPECT_FALSE(is_visible_ascii("a b"));
  EXPECT_FALSE(is_visible_ascii("a\r"));
  EXPECT_FALSE(is_visible_ascii("\xc3\xa9"));
}

TEST(Url, QueryEscape) {
  EXPECT_EQ(query_escape("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
  EXPECT_EQ(query_escape("A-z_0.~"), "A-z_0.~");
  EXPECT_EQ(query_escape("a b&c=d"), "a%20b%26c%3Dd");
}

}  // namespace
}  // namespace gantry::registry::detail
