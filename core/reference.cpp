#include "core/reference.hpp"

#include <cstddef>

#include "core/error.hpp"

// The grammar is distribution/reference's (regexp.go) and the defaults are
// docker's (normalize.go), written as small scanners rather than std::regex:
// a reference is hostile input and std::regex backtracks recursively.
//
//   reference      := name [ ":" tag ] [ "@" digest ]
//   name           := [ host [ ":" port ] "/" ] path-component ( "/" path-component )*
//   host           := domain-component ( "." domain-component )* | "[" ipv6 "]"
//   path-component := [a-z0-9]+ ( ( [._] | "__" | [-]+ ) [a-z0-9]+ )*
//   tag            := [\w][\w.-]{0,127}

namespace gantry::core {

namespace {

constexpr std::string_view kDockerHub = "docker.io";
constexpr std::string_view kDockerHubLegacy = "index.docker.io";
constexpr std::string_view kDockerHubEndpoint = "registry-1.docker.io";
constexpr std::string_view kOfficialPrefix = "library/";
constexpr std::string_view kDefaultTag = "latest";
constexpr std::size_t kMaxTagLength = 128;
constexpr std::size_t kMaxNameLength = 255;  // reference.go NameTotalLengthMax
constexpr std::size_t kImageIdLength = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

[[noreturn]] void fail(std::string_view text, std::string_view reason, ErrorKind kind = ErrorKind::bad_input) {
  std::string message = "invalid reference \"";
  message.append(text).append("\": ").append(reason);
  throw Error(kind, message);
}

// [a-z0-9]+ ( ( [._] | "__" | [-]+ ) [a-z0-9]+ )*
bool is_path_component(std::string_view s) {
  std::size_t i = 0;
  auto alnum_run = [&] {
    std::size_t start = i;
    while (i < s.size() && is_lower_alnum(s[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

// [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool is_domain_component(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '-') return false;
  }
  return true;
}

bool is_domain_name(std::string_view s) {
  while (true) {
    auto dot = s.find('.');
    if (!is_domain_component(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

// regexp.go's ipv6address: brackets around [a-fA-F0-9:]+. Zone identifiers
// (RFC 6874) are deliberately excluded there, and so here.
bool is_bracketed_ipv6(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  for (char c : s.substr(1, s.size() - 2)) {
    if (!is_hex(c) && c != ':') return false;
  }
  return true;
}

// The grammar allows any run of digits; a port that cannot exist is refused
// here rather than at connect time, where the message would be worse.
bool is_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value >= 1 && value <= 65535;
}

// host [":" port]
bool is_registry(std::string_view s) {
  if (s.empty()) return false;
  std::size_t host_end = s.front() == '[' ? s.find(']') : s.find(':');
  if (host_end != std::string_view::npos && s.front() == '[') ++host_end;  // keep the ']'
  std::string_view host = s.substr(0, host_end);
  bool host_ok = s.front() == '[' ? is_bracketed_ipv6(host) : is_domain_name(host);
  if (!host_ok) return false;
  if (host_end == std::string_view::npos || host_end == s.size()) return true;
  return s[host_end] == ':' && is_port(s.substr(host_end + 1));
}

// normalize.go splitDockerDomain: the first component is a registry only when
// it cannot be a path component of Docker Hub: it has a '.' (a domain or an
// IPv4 address), a ':' (a port or an IPv6 literal), or is exactly "localhost".
bool looks_like_registry(std::string_view first) {
  return first == "localhost" || first.find_first_of(".:") != std::string_view::npos;
}

void check_tag(std::string_view text, std::string_view tag) {
  if (tag.empty()) fail(text, "empty tag after ':'");
  if (tag.size() > kMaxTagLength) {
    fail(text, "tag is " + std::to_string(tag.size()) + " characters, the limit is " +
                   std::to_string(kMaxTagLength));
  }
  bool ok = is_word(tag.front());
  for (char c : tag.substr(1)) ok = ok && (is_word(c) || c == '.' || c == '-');
  if (!ok) fail(text, "invalid tag \"" + std::string(tag) + "\": allowed are [A-Za-z0-9_.-], not starting with '.' or '-'");
}

void check_path(std::string_view text, std::string_view path) {
  if (path.empty()) fail(text, "empty repository path");
  for (char c : path) {
    if (is_upper(c)) fail(text, "repository name must be lowercase");
  }
  while (true) {
    auto slash = path.find('/');
    std::string_view component = path.substr(0, slash);
    if (component.empty()) fail(text, "empty path component");
    if (!is_path_component(component)) {
      fail(text, "invalid path component \"" + std::string(component) +
                     "\": lowercase letters and digits, separated by '.', '_', '__' or dashes");
    }
    if (slash == std::string_view::npos) return;
    path.remove_prefix(slash + 1);
  }
}

// A bare image ID is refused as a name, as docker does (ParseNormalizedNamed),
// so that "gantry run <id>" cannot silently pull docker.io/library/<id>.
bool is_image_id(std::string_view text) {
  if (text.size() != kImageIdLength) return false;
  for (char c : text) {
    if (!is_digit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

}  // namespace

Reference Reference::parse(std::string_view text) {
  if (text.empty()) fail(text, "empty reference");
  if (is_image_id(text)) fail(text, "a 64-character hex string is an image ID, not a repository name");

  Reference ref;
  std::string_view rest = text;

  if (auto at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest_text = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (rest.empty()) fail(text, "missing repository name before '@'");
    try {
      ref.digest = Digest::parse(digest_text);
    } catch (const Error& e) {
      // Keep the kind: a well-formed digest of an unknown algorithm is
      // unsupported, not malformed.
      fail(text, e.message(), e.kind());
    }
  }

  // A tag is the part after a ':' that follows the last '/': the ':' of a
  // registry port always comes before a '/'.
  auto last_slash = rest.rfind('/');
  auto colon = rest.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
  if (colon != std::string_view::npos) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    check_tag(text, ref.tag);
  }
  if (rest.empty()) fail(text, "missing repository name");

  std::string_view path = rest;
  ref.registry = kDockerHub;
  if (auto slash = rest.find('/'); slash != std::string_view::npos && looks_like_registry(rest.substr(0, slash))) {
    std::string_view registry = rest.substr(0, slash);
    if (!is_registry(registry)) {
      fail(text, "invalid registry \"" + std::string(registry) + "\": expected HOST[:PORT] or [IPV6][:PORT]");
    }
    ref.registry = registry == kDockerHubLegacy ? kDockerHub : registry;
    path = rest.substr(slash + 1);
  }
  check_path(text, path);

  ref.repository = path;
  if (ref.registry == kDockerHub && path.find('/') == std::string_view::npos) {
    ref.repository.insert(0, kOfficialPrefix);
  }
  if (ref.tag.empty() && !ref.digest) ref.tag = kDefaultTag;

  // Counted on the normalised name, as docker counts it.
  if (std::size_t length = ref.registry.size() + 1 + ref.repository.size(); length > kMaxNameLength) {
    fail(text, "name \"" + ref.name() + "\" is " + std::to_string(length) + " characters, the limit is " +
                   std::to_string(kMaxNameLength));
  }
  return ref;
}

std::string Reference::name() const { return registry + "/" + repository; }

std::string Reference::string() const {
  std::string out = name();
  if (!tag.empty()) out.append(":").append(tag);
  if (digest) out.append("@").append(digest->string());
  return out;
}

std::string Reference::manifest_reference() const { return digest ? digest->string() : tag; }

std::string Reference::endpoint_host() const {
  return registry == kDockerHub ? std::string(kDockerHubEndpoint) : registry;
}

}  // namespace gantry::core
