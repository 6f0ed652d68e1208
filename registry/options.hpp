#pragma once
// How the registry client connects, authenticates, retries and spreads its
// work. Defaults are safe (TLS with peer verification everywhere) and fast
// on a good link; the command line maps its flags onto these fields.

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "core/platform.hpp"
#include "registry/mirror.hpp"

namespace gantry::registry {

struct Options {
  // The platform picked from an index; the host's when unset.
  std::optional<core::Platform> platform;

  // TLS is used for every host except those named here, as written in
  // references ("localhost:5000", "[::1]:5000"), or all hosts with
  // plain_http_all. There is no fallback from TLS to plain HTTP.
  std::set<std::string> plain_http_hosts;
  bool plain_http_all = false;
  // A PEM file of CAs trusted in addition to the system's.
  std::string ca_file;

  // A docker config.json, the only one read; empty: containers-auth.json(5)'s
  // files searched in order (detail::find_auth_files).
  std::string auth_file;

  // Pull-through mirrors, each for one registry (mirror.hpp). Those of a
  // reference's registry are tried in the order given, with the same
  // repository path, before the registry itself, which is used when they
  // fail; other registries' mirrors are never asked.
  std::vector<Mirror> mirrors;

  // Blob downloads in flight at once (over all images of one call).
  int jobs = 4;
  // Of those, at most this many to one host (a mirror and its registry are
  // two hosts); 0: no limit beyond jobs.
  int jobs_per_host = 0;
  // Body bytes per second over every download of the Client together;
  // 0: unlimited.
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
