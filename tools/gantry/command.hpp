#pragma once
// The table of subcommands. Each lives in its own file (cmd_<name>.cpp) and
// describes itself here, so `gantry --help` and `gantry CMD --help` are made
// from the same facts that parse the arguments.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tools/gantry/args.hpp"

namespace gantry::tools {

struct Command {
  std::string_view name;
  std::string_view synopsis;     // "[opts] REF..."
  std::string_view summary;      // one line for `gantry --help`
  std::string_view description;  // paragraphs for `gantry CMD --help`
  std::span<const OptionSpec> options;  // the command's own
  bool takes_common_options;            // and common_options() after them
  // Returns the exit status. Errors are thrown as core::Error.
  int (*run)(const ParsedArgs& args);
  // SIGINT and SIGTERM stop the command cleanly (tools/gantry/interrupt.hpp):
  // what it half made is removed, partial downloads kept, and it exits
  // 128+N with one line. Off: the signals keep their default action (or
  // the command's own handling, as `run` forwards them to the container).
  bool stops_on_signal = false;
  // `run` parses as `docker run`: its options end at the image.
  Operands operands = Operands::anywhere;
  // The exit status when gantry itself fails (a bad option, a pull or
  // unpack error, not root): docker's 125 for `run` and `bundle`, whose
  // status is otherwise the container's.
  int failure_status = 1;
};

[[nodiscard]] std::span<const Command> commands();

// The command's own options followed by the common ones if it takes them.
[[nodiscard]] std::vector<OptionSpec> all_options(const Command& command);

}  // namespace gantry::tools
