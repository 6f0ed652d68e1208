#pragma once
// Which configuration directory a command reads (README "Registry
// configuration"), and the registry options it sets before the command
// line's flags are applied over them.

#include <filesystem>
#include <optional>

#include "registry/options.hpp"
#include "tools/gantry/args.hpp"

namespace gantry::tools {

inline constexpr const char* kDefaultConfigDir = "/etc/gantry";

// --config, else $GANTRY_CONFIG, else /etc/gantry; nullopt when the default
// does not exist (no configuration). Error(bad_input) when a directory
// given by --config or $GANTRY_CONFIG is not one.
[[nodiscard]] std::optional<std::filesystem::path> config_dir(const ParsedArgs& args);

// The options the configuration directory sets (registry::load_config), or
// the defaults without one.
[[nodiscard]] registry::Options configured_registry_options(const ParsedArgs& args);

}  // namespace gantry::tools
