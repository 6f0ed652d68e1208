#pragma once
// Directories a gantry process works in carry its pid in their name (a
// staging rootfs, a running container), so that what a killed gantry left
// can be told from what a live one is using.

#include <string>
#include <string_view>

namespace gantry::engine {

// `marker` followed by this process's pid.
[[nodiscard]] std::string owned_name(std::string_view marker);

// True when `name` ends in `marker` + a pid whose process no longer exists.
[[nodiscard]] bool left_by_dead_process(std::string_view name, std::string_view marker);

}  // namespace gantry::engine
