#pragma once
// What `gantry unpack` and `gantry pull --unpack` share on the command line:
// the layer size cap and the summary of an unpack.

#include <string_view>

#include "tools/gantry/args.hpp"
#include "engine/engine.hpp"
#include "registry/options.hpp"

namespace gantry::tools {

inline constexpr OptionSpec kMaxLayerSizeOption{
    .name = "max-layer-size", .value_name = "SIZE",
    .help = "refuse a layer that expands beyond SIZE (e.g. 512M, 20G; default: no limit)"};

// The engine's options from the flags (--max-layer-size, --jobs,
// --platform); Error(bad_input) for a malformed size. Stopped by
// SIGINT/SIGTERM.
[[nodiscard]] engine::EngineOptions engine_options(const ParsedArgs& args);

// registry_options(), its downloads stopped by SIGINT/SIGTERM (for the
// commands that stop on them: Command::stops_on_signal).
[[nodiscard]] registry::Options interruptible_registry_options(const ParsedArgs& args);

// --json: one `unpacked` event on stdout; otherwise a line on stderr unless
// --quiet. `rootfs` is the directory of a flattened unpack, empty for snapshots.
void print_unpack_summary(const ParsedArgs& args, const engine::UnpackReport& report, std::string_view rootfs);

}  // namespace gantry::tools
