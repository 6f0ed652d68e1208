#include "tools/gantry/command.hpp"

namespace gantry::tools {

// Subcommands register here as they are built (DESIGN.md lists the whole set).
std::span<const Command> commands() {
  return {};
}

}  // namespace gantry::tools
