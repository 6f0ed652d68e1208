#include "registry/detail/redirect.hpp"

#include "core/error.hpp"

namespace gantry::registry::detail {

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

namespace {

[[noreturn]] void unusable(const Url& base, std::string_view location, std::string_view why) {
  throw core::Error(core::ErrorKind::bad_input, "redirect from " + base.authority() + " to an unusable Location \"" +
                                                    std::string(location) + "\": " + std::string(why));
}

Url parse_absolute(const Url& base, std::string_view location, const std::string& text) {
  try {
    return Url::parse(text);
  } catch (const core::Error& e) {
    unusable(base, location, e.message());
  }
}

}  // namespace

Url resolve_location(const Url& base, std::string_view location) {
  if (location.empty()) {
    throw core::Error(core::ErrorKind::bad_input, "redirect from " + base.authority() + " without a Location");
  }
  if (!is_visible_ascii(location)) unusable(base, location, "a space, control or non-ASCII character in it");
  if (location.find("://") != std::string_view::npos) return parse_absolute(base, location, std::string(location));
  if (location.starts_with("//")) return parse_absolute(base, location, base.scheme + ":" + std::string(location));
  Url url = base;
  if (location.starts_with('/')) {
    url.target = std::string(location);
  } else {
    // A relative path replaces the last segment of the base path.
    std::string_view path = std::string_view(base.target).substr(0, base.target.find('?'));
    url.target = std::string(path.substr(0, path.rfind('/') + 1)) + std::string(location);
  }
  if (auto hash = url.target.find('#'); hash != std::string::npos) url.target.resize(hash);
  return url;
}

Url follow_redirect(const Url& from, std::string_view location, int hop,
                    const std::function<bool(std::string_view authority)>& plain_allowed) {
  if (hop > kMaxRedirects) {
    throw core::Error(core::ErrorKind::network,
                      "too many redirects (more than " + std::to_string(kMaxRedirects) + ") from " + from.string());
  }
  Url next = resolve_location(from, location);
  if (from.scheme == "https" && next.scheme == "http" && !plain_allowed(next.authority())) {
    throw core::Error(core::ErrorKind::network, "refusing a redirect from HTTPS to plain HTTP: " + next.string());
  }
  return next;
}

bool may_send_credentials(const Url& owner, const Url& target) { return owner.origin() == target.origin(); }

}  // namespace gantry::registry::detail
