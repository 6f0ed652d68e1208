#pragma once
// The images a command that takes many is asked for (prewarm, export): its
// REFs and the references of each `-f FILE`, one per line, so a node's list
// file feeds every such command the same way.

#include <string_view>
#include <vector>

#include "core/reference.hpp"
#include "tools/gantry/args.hpp"

namespace gantry::tools {

inline constexpr OptionSpec kImageListOption{
    .name = "file", .value_name = "FILE",
    .help = "read references from FILE, one per line (# starts a comment); with REFs, both",
    .repeatable = true, .short_name = 'f'};

// A list bounded like everything a node is handed: a line, and the list.
inline constexpr std::size_t kMaxImages = 10000;

// Every image asked for, each once, in the order first named; at least one.
// Error(bad_input) naming FILE:LINE for a bad line, before anything is done.
[[nodiscard]] std::vector<core::Reference> images_asked(const ParsedArgs& args, std::string_view command);

}  // namespace gantry::tools
