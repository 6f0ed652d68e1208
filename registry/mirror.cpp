#include "registry/mirror.hpp"

#include "core/error.hpp"
#include "registry/detail/url.hpp"

namespace gantry::registry {

namespace {

constexpr std::string_view kDockerHub = "docker.io";

[[noreturn]] void bad_mirror(std::string_view text, std::string_view why) {
  throw core::Error(core::ErrorKind::bad_input,
                    "--mirror: expected HOST[:PORT] or REGISTRY=HOST[:PORT], got \"" + std::string(text) + "\": " +
                        std::string(why));
}

// A host[:port] as references write it; Url's own grammar decides.
std::string host_port(std::string_view side, std::string_view whole) {
  if (side.empty()) bad_mirror(whole, "an empty host");
  if (side.find("://") != std::string_view::npos) bad_mirror(whole, "no scheme (--plain-http-host makes a host plain)");
  if (side.find('/') != std::string_view::npos) bad_mirror(whole, "a host, not a path");
  if (side.find('=') != std::string_view::npos) bad_mirror(whole, "one '=' at most");
  try {
    (void)detail::Url::from_host("https", side, "/");
  } catch (const core::Error& e) {
    bad_mirror(whole, e.message());
  }
  return std::string(side);
}

}  // namespace

Mirror parse_mirror(std::string_view text) {
  auto equals = text.find('=');
  if (equals == std::string_view::npos) {
    return Mirror{.registry = std::string(kDockerHub), .host = host_port(text, text)};
  }
  std::string registry = host_port(text.substr(0, equals), text);
  if (registry == "index.docker.io") registry = kDockerHub;
  return Mirror{.registry = std::move(registry), .host = host_port(text.substr(equals + 1), text)};
}

}  // namespace gantry::registry
