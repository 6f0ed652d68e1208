#include "tools/gantry/command.hpp"

#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"

namespace gantry::tools {

// In DESIGN.md's order; each command is built in its own file.
std::span<const Command> commands() {
  static const Command kCommands[] = {
      pull_command(),
      unpack_command(),
      bundle_command(),
      run_command(),
      prewarm_command(),
      bench_command(),
      inspect_command(),
      images_command(),
      rmi_command(),
      gc_command(),
      df_command(),
      export_command(),
      import_command(),
  };
  return kCommands;
}

std::vector<OptionSpec> all_options(const Command& command) {
  std::vector<OptionSpec> specs(command.options.begin(), command.options.end());
  if (command.takes_common_options) {
    auto common = common_options();
    specs.insert(specs.end(), common.begin(), common.end());
  }
  return specs;
}

}  // namespace gantry::tools
