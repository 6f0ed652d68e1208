#include "registry/detail/endpoint.hpp"

namespace gantry::registry::detail {

namespace {

// The configured hosts of `registry`: its own, else those of every registry.
const RegistryHosts* configured_hosts(const Options& options, const std::string& registry) {
  auto it = options.registry_hosts.find(registry);
  if (it == options.registry_hosts.end()) it = options.registry_hosts.find(kDefaultRegistryHosts);
  return it == options.registry_hosts.end() ? nullptr : &it->second;
}

// The mirrors given for `registry`, else its configured ones: a --mirror
// on the command line replaces what the configuration lists.
std::vector<std::string> mirror_hosts(const Options& options, const std::string& registry,
                                      const RegistryHosts* configured) {
  std::vector<std::string> out;
  for (const Mirror& mirror : options.mirrors) {
    if (mirror.registry == registry) out.push_back(mirror.host);
  }
  if (out.empty() && configured != nullptr) out = configured->mirrors;
  return out;
}

}  // namespace

bool plain_http_allowed(const Options& options, std::string_view host) {
  return options.plain_http_all || options.plain_http_hosts.contains(std::string(host));
}

std::vector<Endpoint> endpoints_for(const Options& options, const core::Reference& reference) {
  auto scheme_for = [&](std::string_view name, std::string_view host) {
    return plain_http_allowed(options, name) || plain_http_allowed(options, host) ? "http" : "https";
  };
  const RegistryHosts* configured = configured_hosts(options, reference.registry);
  std::vector<Endpoint> out;
  for (const std::string& mirror : mirror_hosts(options, reference.registry, configured)) {
    out.push_back(
        Endpoint{.host = mirror, .credentials = mirror, .scheme = scheme_for(mirror, mirror), .mirror = true});
  }
  // A configured server that is another host than the registry's own is
  // asked with its own credentials, as a mirror is: the registry's never
  // go to a host the user did not give them for.
  std::string own = reference.endpoint_host();
  std::string host = configured != nullptr && !configured->server.empty() ? configured->server : own;
  bool own_host = host == own || host == reference.registry;
  out.push_back(Endpoint{.host = host,
                         .credentials = own_host ? reference.registry : host,
                         .scheme = scheme_for(reference.registry, host),
                         .mirror = false});
  return out;
}

}  // namespace gantry::registry::detail
