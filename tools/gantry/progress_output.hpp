#pragma once
// How pull-like commands show progress: `--json` writes one event per line
// on stdout; on a terminal a live per-blob display on stderr; otherwise plain
// log lines on stderr (nothing animated); `--quiet` shows nothing.

#include <memory>

#include "core/progress.hpp"
#include "tools/gantry/args.hpp"

namespace gantry::tools {

// Null with --quiet. The returned sink is not thread-safe: the engine's
// EventStamper calls it one event at a time.
[[nodiscard]] std::unique_ptr<core::progress::StampedSink> make_progress_output(const ParsedArgs& args);

// "12.3 MiB"
[[nodiscard]] std::string human_bytes(std::int64_t bytes);

}  // namespace gantry::tools
