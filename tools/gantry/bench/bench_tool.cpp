#include "tools/gantry/bench/bench_tool.hpp"

#include "core/error.hpp"

namespace gantry::tools::bench {

double seconds_since(WatchedProcess::Clock::time_point start, WatchedProcess::Clock::time_point when) {
  return std::chrono::duration<double>(when - start).count();
}

void wait_until_ready(WatchedProcess& process, const BenchImage& image, const RunSettings& settings,
                      std::string_view what) {
  const auto deadline = process.started() + settings.timeout;
  switch (process.wait_ready(image.ready, deadline)) {
    case WatchedProcess::Outcome::ready: return;
    case WatchedProcess::Outcome::exited:
      throw core::Error(core::ErrorKind::io, std::string(what) + " of " + image.name + " exited with status " +
                                                 std::to_string(*process.status()) + " before it was ready (" +
                                                 image.ready.spec + "): " + process.output_tail());
    case WatchedProcess::Outcome::timed_out:
      throw core::Error(core::ErrorKind::io, std::string(what) + " of " + image.name + " was not ready (" +
                                                 image.ready.spec + ") within " +
                                                 std::to_string(settings.timeout.count()) +
                                                 " s: " + process.output_tail());
  }
}

}  // namespace gantry::tools::bench
