#include "registry/detail/proxy.hpp"

#include <cstdlib>

#include "core/error.hpp"
#include "registry/detail/base64.hpp"

namespace gantry::registry::detail {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Splits an entry's optional ":port" off: "[v6]:port", "host:port"; a bare
// IPv6 literal (more than one colon, no brackets) has no port.
std::pair<std::string_view, std::string_view> split_entry(std::string_view entry) {
  if (entry.starts_with('[')) {
    auto close = entry.find(']');
    if (close == std::string_view::npos) return {entry, {}};
    std::string_view rest = entry.substr(close + 1);
    return {entry.substr(1, close - 1), rest.starts_with(':') ? rest.substr(1) : std::string_view{}};
  }
  auto colon = entry.find(':');
  if (colon == std::string_view::npos || entry.find(':', colon + 1) != std::string_view::npos) return {entry, {}};
  return {entry.substr(0, colon), entry.substr(colon + 1)};
}

// The first non-empty of the lower- and upper-case variable, and its name.
std::pair<std::string, std::string> variable(const char* lower_name, const char* upper_name) {
  for (const char* name : {lower_name, upper_name}) {
    if (const char* value = std::getenv(name); value && *value) return {value, name};
  }
  return {};
}

std::optional<Proxy> proxy_from(const char* lower_name, const char* upper_name) {
  auto [value, name] = variable(lower_name, upper_name);
  if (value.empty()) return std::nullopt;
  return parse_proxy_url(value, name);
}

}  // namespace

Proxy parse_proxy_url(std::string_view text, std::string_view variable) {
  auto refuse = [&](const std::string& why) -> core::Error {
    return core::Error(core::ErrorKind::bad_input, std::string(variable) + ": " + why);
  };
  std::string_view rest = text;
  if (auto sep = rest.find("://"); sep != std::string_view::npos) {
    std::string scheme = lower(rest.substr(0, sep));
    if (scheme == "https") throw refuse("a proxy spoken to over TLS (https://) is not supported; use http://");
    if (scheme.starts_with("socks")) throw refuse("SOCKS proxies are not supported; use an http:// proxy");
    if (scheme != "http") throw refuse("unknown proxy scheme \"" + scheme + "\"; use http://");
    rest.remove_prefix(sep + 3);
  }
  Proxy proxy;
  auto end = rest.find('/');
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos && rest.substr(end) != "/") throw refuse("a proxy URL has no path");
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (!is_visible_ascii(userinfo)) throw refuse("a space, control or non-ASCII character in the user or password");
    proxy.authorization = "Basic " + base64_encode(userinfo);
    authority.remove_prefix(at + 1);
  }
  proxy.url = Url::parse("http://" + std::string(authority) + "/");
  return proxy;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_in, std::string_view port) {
  std::string host = lower(host_in);
  while (!no_proxy.empty()) {
    auto comma = no_proxy.find(',');
    std::string_view entry = trim(no_proxy.substr(0, comma));
    no_proxy = comma == std::string_view::npos ? std::string_view{} : no_proxy.substr(comma + 1);
    if (entry == "*") return true;
    auto [name_view, entry_port] = split_entry(entry);
    if (!entry_port.empty() && entry_port != port) continue;
    std::string name = lower(name_view);
    if (name.starts_with('.')) name.erase(0, 1);
    if (name.empty()) continue;
    if (host == name) return true;
    if (host.size() > name.size() && host.ends_with(name) && host[host.size() - name.size() - 1] == '.') return true;
  }
  return false;
}

ProxySettings ProxySettings::from_environment() {
  ProxySettings settings;
  settings.http = proxy_from("http_proxy", "HTTP_PROXY");
  settings.https = proxy_from("https_proxy", "HTTPS_PROXY");
  settings.no_proxy = variable("no_proxy", "NO_PROXY").first;
  return settings;
}

const Proxy* ProxySettings::for_url(const Url& url) const {
  const std::optional<Proxy>& proxy = url.scheme == "https" ? https : http;
  if (!proxy || no_proxy_matches(no_proxy, url.host, url.port)) return nullptr;
  return &*proxy;
}

}  // namespace gantry::registry::detail
