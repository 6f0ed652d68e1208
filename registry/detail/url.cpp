#include "registry/detail/url.hpp"

#include <algorithm>
#include <charconv>

#include "core/error.hpp"

namespace gantry::registry::detail {

namespace {

std::string_view default_port(std::string_view scheme) { return scheme == "https" ? "443" : "80"; }

[[noreturn]] void bad_url(std::string_view text, std::string_view why) {
  throw core::Error(core::ErrorKind::bad_input, "invalid URL \"" + std::string(text) + "\": " + std::string(why));
}

// Splits "host[:port]" / "[v6][:port]" into host and port.
void split_authority(std::string_view authority, std::string_view whole, Url& url) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad_url(whole, "unclosed '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad_url(whole, "junk after the IPv6 address");
      port = rest.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) bad_url(whole, "empty host");
  for (char c : host) {
    if (c == '@' || c == '/' || c == '?' || c == '#' || !is_visible_ascii(std::string_view(&c, 1))) {
      bad_url(whole, "invalid character in the host");
    }
  }
  if (!port.empty() || authority.ends_with(':')) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      bad_url(whole, "invalid port");
    }
  }
  // Host names compare case-insensitively (RFC 3986 §3.2.2): keep one spelling.
  url.host.clear();
  for (char c : host) url.host.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  url.port = port.empty() ? std::string(default_port(url.scheme)) : std::string(port);
}

}  // namespace

Url Url::parse(std::string_view text) {
  if (!is_visible_ascii(text)) bad_url(text, "a space, control or non-ASCII character in it");
  Url url;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) bad_url(text, "not absolute");
  std::string_view scheme = text.substr(0, sep);
  if (scheme == "https" || scheme == "HTTPS") {
    url.scheme = "https";
  } else if (scheme == "http" || scheme == "HTTP") {
    url.scheme = "http";
  } else {
    bad_url(text, "only http and https are supported");
  }
  std::string_view rest = text.substr(sep + 3);
  auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  split_authority(authority, text, url);
  std::string_view target = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  url.target = target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
  return url;
}

Url Url::from_host(std::string_view scheme, std::string_view host_port, std::string_view target) {
  Url url;
  url.scheme = std::string(scheme);
  split_authority(host_port, host_port, url);
  url.target = std::string(target);
  return url;
}

std::string Url::authority() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != default_port(scheme)) out += ":" + port;
  return out;
}

std::string Url::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + port;
}

std::string Url::string() const { return scheme + "://" + authority() + target; }

bool is_visible_ascii(std::string_view text) {
  return std::ranges::all_of(text, [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

std::string query_escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace gantry::registry::detail
