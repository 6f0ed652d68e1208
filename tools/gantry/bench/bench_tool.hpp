#pragma once
// A tool `gantry bench` measures: gantry itself, or one it compares with
// (ctr, podman, skopeo+umoci+runc). Each run is the tool's own commands as
// a user types them, timed from the first one's start to the container's
// readiness; the container is then stopped.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/gantry/bench/bench_record.hpp"
#include "tools/gantry/bench/readiness.hpp"
#include "tools/gantry/bench/watched_process.hpp"

namespace gantry::tools::bench {

// One image of the bench: a REF on the command line or a line of a suite.
struct BenchImage {
  std::string name;                  // --name, else the reference's last path component
  std::string reference;             // as given (normalised by each tool itself)
  std::vector<std::string> command;  // after `--`; empty: the image's own
  Readiness ready;
};

// What every tool's runs share.
struct RunSettings {
  std::chrono::seconds timeout{300};  // per run, to ready
  bool plain_http = false;            // the registry speaks plain HTTP (--plain-http, --plain-http-host)
};

// One tool on one image, in one cold environment (a new, empty directory
// on the filesystem under test): the first run is cold, later ones warm
// (what the first left in the tool's store).
class ToolSession {
 public:
  virtual ~ToolSession() = default;
  // Error(io) naming the command when a step fails or the container exits
  // (or times out) before it is ready, with the end of its output.
  [[nodiscard]] virtual RunRecord run(bool warm) = 0;
};

class BenchTool {
 public:
  virtual ~BenchTool() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  // The programs it runs and their versions: {"ctr", "ctr github.com/containerd/containerd 1.6.20~ds1"}.
  [[nodiscard]] virtual std::vector<std::pair<std::string, std::string>> versions() const = 0;
  // Starts what the tool needs (containerd, for ctr) in `dir`.
  [[nodiscard]] virtual std::unique_ptr<ToolSession> open(const BenchImage& image,
                                                          const std::filesystem::path& dir) const = 0;
};

// Another tool by its --compare name: ctr, podman or skopeo-umoci-runc;
// Error(bad_input) for another, Error(unsupported) naming the Debian
// package of a program that is missing.
[[nodiscard]] std::unique_ptr<BenchTool> compare_tool(std::string_view name, const RunSettings& settings);

// Waits for `process` (the tool's command that runs the container) to be
// ready; Error(io) naming `what` when it exits or times out first.
void wait_until_ready(WatchedProcess& process, const BenchImage& image, const RunSettings& settings,
                      std::string_view what);

// Seconds from `start` to `when`.
[[nodiscard]] double seconds_since(WatchedProcess::Clock::time_point start, WatchedProcess::Clock::time_point when);

}  // namespace gantry::tools::bench
