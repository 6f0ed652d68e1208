#pragma once
// A command `gantry bench` starts and watches: the tool under test (gantry
// run, ctr, podman, runc) or a helper (mkfs, mount, containerd). stdin is
// /dev/null; stdout and stderr go into one pipe the bench reads, so a
// readiness line is seen the moment it is written; the last few KiB are
// kept for the error that names a failed command. It runs in a process
// group of its own, so a Ctrl-C reaches the bench alone, which stops what
// it started in order.

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/file_handle.hpp"
#include "tools/gantry/bench/readiness.hpp"

namespace gantry::tools::bench {

class WatchedProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // Error(io) when it cannot be started (not in PATH: says so).
  explicit WatchedProcess(const std::vector<std::string>& argv);
  // Kills and reaps it if it still runs.
  ~WatchedProcess();
  WatchedProcess(const WatchedProcess&) = delete;
  WatchedProcess& operator=(const WatchedProcess&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] Clock::time_point started() const noexcept { return started_; }

  // Watches until `readiness` is met (exit: it exited with status 0), it
  // exits otherwise, or `deadline`; a port or URL is probed every 10 ms.
  // Error(io) "interrupted" on SIGINT/SIGTERM. When ready: ready_at().
  enum class Outcome { ready, exited, timed_out };
  [[nodiscard]] Outcome wait_ready(const Readiness& readiness, Clock::time_point deadline);
  [[nodiscard]] Clock::time_point ready_at() const noexcept { return ready_at_; }

  // Waits for it to exit (SIGKILL at `deadline`): its status, 128+N for
  // signal N.
  int wait(Clock::time_point deadline);
  void kill() noexcept;

  [[nodiscard]] std::optional<int> status() const noexcept { return status_; }
  // False once it exited (reaped: status() then says how).
  [[nodiscard]] bool running() { return !reap(); }
  // What it used (its waited-for children included), once it exited.
  [[nodiscard]] const rusage& usage() const noexcept { return usage_; }
  // The last 4 to 8 KiB of its output.
  [[nodiscard]] const std::string& output() const noexcept { return tail_; }
  // The end of its output on one line, for an error message.
  [[nodiscard]] std::string output_tail() const;

 private:
  // Reads what the pipe holds; true if a line matched `line` (when given).
  bool drain(const std::regex* line);
  bool reap();  // true once it exited

  pid_t pid_ = -1;
  core::FileHandle pidfd_;
  core::FileHandle output_;
  Clock::time_point started_;
  Clock::time_point ready_at_{};
  std::string partial_line_;
  std::string tail_;
  std::optional<int> status_;
  rusage usage_{};
};

// For the bench's helper commands (mkfs, mount, a tool's pull or stop):
// runs argv to its end and returns its output's tail; Error(io) naming it,
// with the end of its output, unless it exits 0 within `timeout`.
std::string run_to_end(const std::vector<std::string>& argv,
                       std::chrono::seconds timeout = std::chrono::seconds(300));

// The first line `argv` prints, for the tools' versions; "unknown" if it fails.
[[nodiscard]] std::string first_line_of(const std::vector<std::string>& argv);

// Error(io) "interrupted" when SIGINT or SIGTERM asked the bench to stop.
void check_interrupted();

}  // namespace gantry::tools::bench
