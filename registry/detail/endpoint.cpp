#include "registry/detail/endpoint.hpp"

namespace gantry::registry::detail {

bool plain_http_allowed(const Options& options, std::string_view host) {
  return options.plain_http_all || options.plain_http_hosts.contains(std::string(host));
}

std::vector<Endpoint> endpoints_for(const Options& options, const core::Reference& reference) {
  auto scheme_for = [&](std::string_view name, std::string_view host) {
    return plain_http_allowed(options, name) || plain_http_allowed(options, host) ? "http" : "https";
  };
  std::vector<Endpoint> out;
  for (const Mirror& mirror : options.mirrors) {
    if (mirror.registry != reference.registry) continue;
    out.push_back(Endpoint{.host = mirror.host,
                           .credentials = mirror.host,
                           .scheme = scheme_for(mirror.host, mirror.host),
                           .mirror = true});
  }
  std::string host = reference.endpoint_host();
  out.push_back(Endpoint{.host = host,
                         .credentials = reference.registry,
                         .scheme = scheme_for(reference.registry, host),
                         .mirror = false});
  return out;
}

}  // namespace gantry::registry::detail
