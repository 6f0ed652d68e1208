#pragma once
// One function per subcommand, each defined in its own file here.

#include "tools/gantry/command.hpp"

namespace gantry::tools {

[[nodiscard]] Command pull_command();
[[nodiscard]] Command prewarm_command();
[[nodiscard]] Command bench_command();
[[nodiscard]] Command inspect_command();
[[nodiscard]] Command export_command();
[[nodiscard]] Command import_command();
[[nodiscard]] Command images_command();
[[nodiscard]] Command rmi_command();
[[nodiscard]] Command gc_command();
[[nodiscard]] Command df_command();
[[nodiscard]] Command unpack_command();
[[nodiscard]] Command bundle_command();
[[nodiscard]] Command run_command();

}  // namespace gantry::tools
