// gantry: pull, verify and unpack container images while they download, and
// run a process in the result. This file only dispatches; each subcommand
// lives in cmd_<name>.cpp.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "tools/gantry/command.hpp"
#include "tools/gantry/interrupt.hpp"

namespace gantry::tools {
namespace {

constexpr std::string_view kVersion = "0.1.0";

// The command stopped because of a signal (its cleanup is done).
struct Interrupted : std::exception {
  explicit Interrupted(int signal) : signal(signal), message(interrupted_message(signal)) {}
  [[nodiscard]] const char* what() const noexcept override { return message.c_str(); }
  int signal;
  std::string message;
};

void print_main_help() {
  std::string out =
      "Usage: gantry COMMAND [OPTIONS] ...\n"
      "\n"
      "Pulls OCI and Docker images from any distribution-spec registry, verifies and\n"
      "unpacks them while the bytes arrive, and starts a process in the result.\n"
      "\n"
      "Commands:\n";
  for (const Command& c : commands()) {
    std::string left = "  " + std::string(c.name);
    left.resize(12, ' ');
    out += left + std::string(c.summary) + "\n";
  }
  out +=
      "\n"
      "Run 'gantry COMMAND --help' for a command's options.\n"
      "'gantry --version' prints the version.\n";
  std::fputs(out.c_str(), stdout);
}

void print_command_help(const Command& c) {
  std::string out = "Usage: gantry " + std::string(c.name) + " " + std::string(c.synopsis) + "\n\n" +
                    std::string(c.description) + "\n\nOptions:\n" + format_options(all_options(c)) +
                    "  -h, --help                      this text\n";
  std::fputs(out.c_str(), stdout);
}

const Command* find_command(std::string_view name) {
  for (const Command& c : commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// DESIGN.md: exactly one line on stderr, a non-zero status.
int report_failure(const std::exception& e, int status) {
  std::fprintf(stderr, "gantry: error: %s\n", e.what());
  return status;
}

int run_command(const Command& command, const std::vector<std::string>& rest) {
  // --help where an option may stand asks for help rather than running.
  ParsedArgs args = parse_args(command.name, all_options(command), rest, command.operands);
  if (args.help()) {
    print_command_help(command);
    return 0;
  }
  if (!command.stops_on_signal) return command.run(args);
  watch_interrupts();  // before the command starts any thread
  int status = 1;
  try {
    status = command.run(args);
  } catch (...) {
    // Whatever error the stop surfaced as (a cancelled download, a failed
    // pipeline), the cause is the signal.
    if (interrupting_signal() == 0) throw;
  }
  if (int signal = interrupting_signal(); signal != 0 && status != 0) throw Interrupted(signal);
  return status;
}

int dispatch(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
    if (argv.size() >= 2 && argv[0] == "help") {
      if (const Command* c = find_command(argv[1])) {
        print_command_help(*c);
        return 0;
      }
    }
    print_main_help();
    return argv.empty() ? 2 : 0;
  }
  if (argv[0] == "--version" || argv[0] == "version") {
    std::printf("gantry %.*s\n", static_cast<int>(kVersion.size()), kVersion.data());
    return 0;
  }
  const Command* command = find_command(argv[0]);
  if (command == nullptr) {
    throw core::Error(core::ErrorKind::bad_input, "unknown command \"" + argv[0] + "\" (see 'gantry --help')");
  }
  try {
    return run_command(*command, std::vector<std::string>(argv.begin() + 1, argv.end()));
  } catch (const Interrupted& e) {
    return report_failure(e, 128 + e.signal);  // as a shell reports a process killed by the signal
  } catch (const std::exception& e) {
    return report_failure(e, command->failure_status);
  }
}

}  // namespace
}  // namespace gantry::tools

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return gantry::tools::dispatch(args);
  } catch (const std::exception& e) {  // before any command: an unknown one
    return gantry::tools::report_failure(e, 1);
  }
}
