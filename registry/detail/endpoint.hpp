#pragma once
// Where requests for a reference go: its mirrors in order, then the
// registry itself (or the server its configuration names), each over TLS
// unless the options name the host as plain.

#include <string>
#include <string_view>
#include <vector>

#include "core/reference.hpp"
#include "registry/detail/url.hpp"
#include "registry/options.hpp"

namespace gantry::registry::detail {

struct Endpoint {
  std::string host;         // host[:port] to connect to ("registry-1.docker.io", "localhost:5000")
  std::string credentials;  // the registry name credentials are looked up by ("docker.io", the mirror's host)
  std::string scheme;       // "https", or "http" for hosts named plain
  bool mirror = false;

  [[nodiscard]] Url url(std::string_view target) const { return Url::from_host(scheme, host, target); }
};

// Whether plain HTTP may be used with `host` (host[:port] as written in a
// reference or a URL's authority).
[[nodiscard]] bool plain_http_allowed(const Options& options, std::string_view host);

// The mirrors of the reference's registry in the order given (else those of
// its registry_hosts entry, or kDefaultRegistryHosts'), then the registry
// itself or its entry's server.
[[nodiscard]] std::vector<Endpoint> endpoints_for(const Options& options, const core::Reference& reference);

}  // namespace gantry::registry::detail
