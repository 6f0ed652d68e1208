#pragma once
// A small, strict argument parser for gantry's subcommands: `--name VALUE`,
// `--name=VALUE`, short options alone or combined (`-q`, `-it`, `-e X`,
// `-e=X`, `-eX`), flags, repeatable options, positionals, and `--` after
// which everything is positional. `run` parses as `docker run` does: its
// options end at the first operand (the image), and everything after it is
// the command (a `--` right after the image is dropped). Unknown options are
// errors, never ignored.

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::tools {

// Where a command's options may stand.
enum class Operands {
  anywhere,             // options and operands mixed: `pull REF --store DIR`
  first_ends_options,   // `run [OPTIONS] IMAGE [COMMAND] [ARG...]`
};

struct OptionSpec {
  std::string_view name;        // without dashes: "store"
  std::string_view value_name;  // empty for a flag: "DIR"
  std::string_view help;
  bool repeatable = false;
  char short_name = 0;          // 'q' for -q, or 0
};

class ParsedArgs {
 public:
  [[nodiscard]] bool flag(std::string_view name) const;
  [[nodiscard]] std::optional<std::string> value(std::string_view name) const;  // the last one given
  [[nodiscard]] std::vector<std::string> values(std::string_view name) const;
  [[nodiscard]] const std::vector<std::string>& positionals() const { return positionals_; }
  // Arguments after a literal `--` (with Operands::first_ends_options:
  // after the first operand).
  [[nodiscard]] const std::vector<std::string>& rest() const { return rest_; }
  [[nodiscard]] bool has_rest_separator() const { return has_rest_separator_; }
  // `--help` or `-h` where an option may stand: what follows is not parsed.
  [[nodiscard]] bool help() const { return help_; }

 private:
  friend ParsedArgs parse_args(std::string_view, std::span<const OptionSpec>, std::span<const std::string>, Operands);
  std::map<std::string, std::vector<std::string>, std::less<>> options_;
  std::vector<std::string> positionals_;
  std::vector<std::string> rest_;
  bool has_rest_separator_ = false;
  bool help_ = false;
};

// Throws core::Error(bad_input) naming the command and the offending argument.
[[nodiscard]] ParsedArgs parse_args(std::string_view command, std::span<const OptionSpec> specs,
                                    std::span<const std::string> args, Operands operands = Operands::anywhere);

// "  --store DIR        where images live (default ...)" lines for --help.
[[nodiscard]] std::string format_options(std::span<const OptionSpec> specs);

}  // namespace gantry::tools
