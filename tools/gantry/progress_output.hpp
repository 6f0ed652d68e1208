#pragma once
// How pull-like commands show progress: `--json` writes one event per line
// (docs/events.md) on stdout, or on stderr for `gantry run` (whose stdout is
// the container's), or into `--json-file PATH`; on a terminal a live per-blob display on stderr; otherwise plain
// log lines on stderr (nothing animated); `--quiet` shows nothing.

#include <memory>

#include "core/progress.hpp"
#include "tools/gantry/args.hpp"

namespace gantry::tools {

// Where `--json` puts its events when no --json-file is given.
enum class JsonStream { stdout_stream, stderr_stream };

// `--json-file PATH` (a command that takes it): the events in PATH, and
// nothing on the terminal. Null with --quiet. The returned sink is not thread-safe: the engine's
// EventStamper calls it one event at a time.
[[nodiscard]] std::unique_ptr<core::progress::StampedSink> make_progress_output(const ParsedArgs& args,
                                                                                 JsonStream json = JsonStream::stdout_stream);

// "12.3 MiB"
[[nodiscard]] std::string human_bytes(std::int64_t bytes);
// "sha256:4cd5dee8cffb": enough of a digest to tell blobs apart on a line.
[[nodiscard]] std::string short_digest(const core::Digest& digest);

}  // namespace gantry::tools
