#pragma once
// gantry's configuration directory: what a node would otherwise repeat on
// every call. How each registry is reached follows containerd's hosts.toml
// layout (docs/hosts.md in containerd), because the node's containerd is
// configured the same way and mirrors such as Spegel, Dragonfly and Harbor
// document hosts.toml snippets:
//
//   DIR/certs.d/<host[:port]>/hosts.toml  one registry, as references name it
//                                         (or <host>_<port>_, which wins)
//   DIR/certs.d/_default/hosts.toml       every registry without its own
//   DIR/gantry.toml                       jobs, jobs_per_host, max_rate, stall_timeout
//
// In a hosts.toml, with containerd's meaning:
//   server = "http[s]://host[:port]"  the origin (scheme: TLS or plain HTTP);
//                                     default the registry's own host over TLS
//   ca = PATH | [PATH...]             CAs trusted for that host
//   client = PATH | [PATH...] | [[CERT, KEY]...]   a client certificate (one)
//   skip_verify = false               (true is refused: gantry always verifies)
//   capabilities = [...]              must include "pull" and "resolve"
//   override_path = false             (true, like a path in a host URL, is refused)
//   [host."http[s]://host[:port]"]    mirrors, tried in the file's order
//                                     before the origin, each with the keys above
// Relative paths are relative to the hosts.toml's directory.

#include <filesystem>

#include "registry/options.hpp"

namespace gantry::registry {

// The options the directory sets (registry_hosts, host_tls,
// plain_http_hosts, jobs, jobs_per_host, max_rate, stall_timeout), the
// defaults for the rest. A missing certs.d or gantry.toml configures
// nothing. Error(bad_input), one line naming the file and, where known, the
// line, for anything it cannot use: malformed TOML, an unknown key, a
// setting gantry does not support, a wrong type or value, a missing
// certificate file. Error(io) for a file it cannot read.
[[nodiscard]] Options load_config(const std::filesystem::path& dir);

}  // namespace gantry::registry
