#pragma once
// gantry itself under `gantry bench`: each run is `gantry run` as a user
// types it (this binary, a process of its own), its store in the session's
// directory, its events in a file beside it. The phases come from those
// events: the engine's timeline (resolve, every layer's steps) and the
// launcher's (`launched`: mount, exec; `exited`: gantry's own CPU and
// peak RSS), placed on the bench's clock through the events' monotonic
// origin. Once ready, the container's process (its PID from `launched`,
// checked to be that gantry's child) is killed, and gantry run exits.

#include <memory>

#include "tools/gantry/args.hpp"
#include "tools/gantry/bench/bench_tool.hpp"

namespace gantry::tools::bench {

// `args`: the bench's, whose registry options (--plain-http, --ca-file,
// --config, --mirror, --jobs, ...) every gantry run gets as given.
[[nodiscard]] std::unique_ptr<BenchTool> gantry_tool(const ParsedArgs& args, const RunSettings& settings);

}  // namespace gantry::tools::bench
