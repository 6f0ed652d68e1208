#pragma once
// HTTP proxies from the environment, as curl and Go's net/http read them:
// HTTPS_PROXY for https URLs, HTTP_PROXY for http URLs, NO_PROXY for the
// hosts that go direct; the lower-case spelling wins over the upper-case one.
//
// One deliberate difference from Go: localhost and loopback addresses are
// not excluded implicitly (Go's ProxyFromEnvironment never proxies them);
// as in curl, only NO_PROXY excludes a host. A proxy on 127.0.0.1 can then
// serve a registry on 127.0.0.1, and what is proxied is what the user said.

#include <optional>
#include <string>
#include <string_view>

#include "registry/detail/url.hpp"

namespace gantry::registry::detail {

struct Proxy {
  Url url;                    // http://host:port of the proxy itself
  std::string authorization;  // "Basic base64(user:password)" or empty
  friend bool operator==(const Proxy&, const Proxy&) = default;
};

// "http://[user:password@]host[:port][/]" or "host[:port]" (http assumed,
// as curl and Go do); the port defaults to 80. Error(bad_input), naming the
// variable, for https:// (TLS to the proxy) and socks proxies, which gantry
// does not speak, and for anything Url::parse refuses. The user and
// password are taken as written: no percent-decoding.
[[nodiscard]] Proxy parse_proxy_url(std::string_view text, std::string_view variable);

// Whether NO_PROXY's comma-separated list excludes `host` (as in Url: IPv6
// without brackets) on `port`. An entry is "*" (every host), a host name or
// domain ("example.com" and ".example.com" both match example.com and its
// subdomains), an IP literal (IPv6 with or without brackets), any of these
// with ":port" to match that port only. CIDR ranges are not understood
// (they match nothing). Comparison ignores case; blanks around entries are
// dropped.
[[nodiscard]] bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::string_view port);

struct ProxySettings {
  std::optional<Proxy> http;   // for http:// URLs
  std::optional<Proxy> https;  // for https:// URLs
  std::string no_proxy;

  // From HTTP_PROXY/http_proxy, HTTPS_PROXY/https_proxy, NO_PROXY/no_proxy.
  [[nodiscard]] static ProxySettings from_environment();
  // The proxy `url` goes through, or nullopt to connect directly.
  [[nodiscard]] const Proxy* for_url(const Url& url) const;
};

}  // namespace gantry::registry::detail
