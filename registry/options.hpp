#pragma once
// How the registry client connects, authenticates, retries and spreads its
// work. Defaults are safe (TLS with peer verification everywhere) and fast
// on a good link; the command line maps its flags onto these fields.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/platform.hpp"
#include "registry/mirror.hpp"

namespace gantry::registry {

// A client certificate for TLS client authentication (mTLS): PEM files,
// the certificate chain and its private key (one file may hold both).
struct ClientCertificate {
  std::string cert_file;
  std::string key_file;

  friend bool operator==(const ClientCertificate&, const ClientCertificate&) = default;
};

// TLS for the connections to one host, as its hosts.toml sets it.
struct HostTls {
  std::vector<std::string> ca_files;        // PEM CAs trusted on top of the system's and Options::ca_file
  std::optional<ClientCertificate> client;  // presented when the host asks for one

  friend bool operator==(const HostTls&, const HostTls&) = default;
};

// Where one registry's requests go, as its hosts.toml says (hosts_config.hpp).
struct RegistryHosts {
  std::string server;                // host[:port] of the origin; empty: the registry's own
  std::vector<std::string> mirrors;  // host[:port] each, tried in the file's order before the origin

  friend bool operator==(const RegistryHosts&, const RegistryHosts&) = default;
};

// The registry_hosts entry of every registry that has none of its own.
inline constexpr std::string_view kDefaultRegistryHosts = "_default";

// Bounds of the download counts, for flags and configuration alike.
inline constexpr int kMaxJobs = 64;
inline constexpr std::chrono::seconds kMaxStallTimeout{3600};

struct Options {
  // The platform picked from an index; the host's when unset.
  std::optional<core::Platform> platform;

  // TLS is used for every host except those named here, as written in
  // references ("localhost:5000", "[::1]:5000"), or all hosts with
  // plain_http_all. There is no fallback from TLS to plain HTTP.
  std::set<std::string> plain_http_hosts;
  bool plain_http_all = false;
  // A PEM file of CAs trusted in addition to the system's, for every host.
  std::string ca_file;
  // TLS per origin connected to ("https://host:port", as Url::origin()
  // writes it), from the configuration: used for that origin only, never
  // for a host it redirects to or a token realm elsewhere.
  std::map<std::string, HostTls> host_tls;

  // A docker config.json, the only one read; empty: containers-auth.json(5)'s
  // files searched in order (detail::find_auth_files).
  std::string auth_file;

  // Pull-through mirrors, each for one registry (mirror.hpp). Those of a
  // reference's registry are tried in the order given, with the same
  // repository path, before the registry itself, which is used when they
  // fail; other registries' mirrors are never asked.
  std::vector<Mirror> mirrors;
  // The configuration's origin and mirrors per registry as references name
  // it, kDefaultRegistryHosts for the rest. Mirrors given in `mirrors` for
  // a registry replace its configured ones; its server stays.
  std::map<std::string, RegistryHosts, std::less<>> registry_hosts;

  // Blob downloads in flight at once (over all images of one call).
  int jobs = 4;
  // Blob downloads in flight at once to one registry host; 0: only `jobs` bounds them.
  int jobs_per_host = 0;
  // Bytes per second over all downloads at once; 0: no limit.
  std::int64_t max_rate = 0;

  // A connection that delivers no byte for this long is dropped and the
  // request retried (resuming a blob where it stopped); there is no limit
  // on a whole download.
  std::chrono::milliseconds stall_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};

  // Attempts per request against one host (connection errors, timeouts,
  // 5xx, 429); mirrors get at most two before the next host is tried.
  int max_attempts = 5;
  // Exponential backoff between attempts, with jitter: the n-th wait is
  // between half and all of min(backoff_max, backoff_base * 2^(n-1)).
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(10)};
  // A Retry-After longer than this fails the request instead of waiting.
  std::chrono::seconds max_retry_after{60};

  // The least time between two progress events of one blob.
  std::chrono::milliseconds progress_interval{100};

  std::string user_agent = "gantry/0.1";

  // A stop requested here (SIGINT/SIGTERM) ends every blob download at its
  // next chunk or attempt; partial files are kept for a resume.
  std::stop_token stop;
};

}  // namespace gantry::registry
