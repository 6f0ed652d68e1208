#pragma once
// Absolute http(s) URLs as the client needs them: where to connect, what to
// send as Host and request target, and which origin credentials belong to.

#include <string>
#include <string_view>

namespace gantry::registry::detail {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // DNS name or IP literal, IPv6 without brackets
  std::string port;    // always set ("443" when the URL has none)
  std::string target;  // path and query, starting with '/'

  // "http[s]://authority[/target]"; Error(bad_input) for anything else
  // (other schemes, user info, a bad port, an empty host, a space, control
  // or non-ASCII byte anywhere: see is_visible_ascii).
  [[nodiscard]] static Url parse(std::string_view text);
  // From a registry host as written in references ("localhost:5000",
  // "[::1]:5000", "registry-1.docker.io").
  [[nodiscard]] static Url from_host(std::string_view scheme, std::string_view host_port, std::string_view target);

  // host[:port] as the Host header wants it: the port only when not the
  // scheme's default, IPv6 in brackets.
  [[nodiscard]] std::string authority() const;
  // "scheme://host:port": what connection pools and credentials are keyed by.
  [[nodiscard]] std::string origin() const;
  [[nodiscard]] std::string string() const;  // scheme://authority/target

  friend bool operator==(const Url&, const Url&) = default;
};

// Whether every byte is visible ASCII (RFC 9110 §5.5 VCHAR, 0x21-0x7E):
// what may go from the network (a redirect's Location, a token realm, a
// token) into a request line or header. A space ends the request target,
// CR/LF end the line: either lets a hostile server write request lines of
// its choosing into what gantry sends (CWE-113, header injection).
[[nodiscard]] bool is_visible_ascii(std::string_view text);

// Percent-encoding for a query component (RFC 3986 §2.3: unreserved kept).
[[nodiscard]] std::string query_escape(std::string_view text);

}  // namespace gantry::registry::detail
