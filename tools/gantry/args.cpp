#include "tools/gantry/args.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace gantry::tools {

using core::Error;
using core::ErrorKind;

bool ParsedArgs::flag(std::string_view name) const { return options_.find(name) != options_.end(); }

std::optional<std::string> ParsedArgs::value(std::string_view name) const {
  auto it = options_.find(name);
  if (it == options_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::values(std::string_view name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

const OptionSpec* find_long(std::span<const OptionSpec> specs, std::string_view name) {
  auto it = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == name; });
  return it == specs.end() ? nullptr : &*it;
}

const OptionSpec* find_short(std::span<const OptionSpec> specs, char c) {
  auto it = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.short_name == c; });
  return it == specs.end() ? nullptr : &*it;
}

Error usage(std::string_view command, const std::string& what) {
  return Error(ErrorKind::bad_input,
               "gantry " + std::string(command) + ": " + what + " (see 'gantry " + std::string(command) + " --help')");
}

}  // namespace

ParsedArgs parse_args(std::string_view command, std::span<const OptionSpec> specs, std::span<const std::string> args,
                      Operands operands) {
  ParsedArgs out;
  auto take = [&](const OptionSpec& spec, std::optional<std::string> value, std::size_t& i) {
    std::string name(spec.name);
    if (!spec.repeatable && out.options_.contains(name)) throw usage(command, "--" + name + " given twice");
    if (spec.value_name.empty()) {
      if (value) throw usage(command, "--" + name + " takes no value");
      out.options_[name];  // present, no value
      return;
    }
    if (!value) {
      if (i + 1 >= args.size()) throw usage(command, "--" + name + " needs a value " + std::string(spec.value_name));
      value = args[++i];
    }
    out.options_[name].push_back(std::move(*value));
  };
  auto rest_from = [&](std::size_t from) {
    out.has_rest_separator_ = true;
    out.rest_.assign(args.begin() + static_cast<std::ptrdiff_t>(from), args.end());
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      if (operands == Operands::first_ends_options && out.positionals_.empty() && i + 1 < args.size()) {
        out.positionals_.push_back(args[i + 1]);  // `-- IMAGE [COMMAND]`
        ++i;
      }
      rest_from(i + 1);
      break;
    }
    if (arg == "--help" || arg == "-h") {
      out.help_ = true;
      break;
    }
    if (arg.size() > 2 && arg.starts_with("--")) {
      std::string_view body = std::string_view(arg).substr(2);
      std::optional<std::string> value;
      if (auto eq = body.find('='); eq != std::string_view::npos) {
        value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      const OptionSpec* spec = find_long(specs, body);
      if (spec == nullptr) throw usage(command, "unknown option --" + std::string(body));
      take(*spec, std::move(value), i);
    } else if (arg.size() >= 2 && arg[0] == '-') {
      // Short options, combined: flags up to one that takes a value, whose
      // value is the rest of the word (after an optional '=') or the next.
      for (std::size_t j = 1; j < arg.size(); ++j) {
        const OptionSpec* spec = find_short(specs, arg[j]);
        if (spec == nullptr) throw usage(command, "unknown option -" + std::string(1, arg[j]));
        if (spec->value_name.empty()) {
          take(*spec, std::nullopt, i);
          continue;
        }
        std::string inline_value = arg.substr(j + 1);
        if (inline_value.starts_with('=')) inline_value.erase(0, 1);
        take(*spec, j + 1 < arg.size() ? std::optional(inline_value) : std::nullopt, i);
        break;
      }
    } else {
      out.positionals_.push_back(arg);
      if (operands == Operands::first_ends_options) {
        // docker run: the image ends the options; a `--` right after it is dropped.
        rest_from(i + 1 < args.size() && args[i + 1] == "--" ? i + 2 : i + 1);
        break;
      }
    }
  }
  return out;
}

std::string format_options(std::span<const OptionSpec> specs) {
  std::string out;
  for (const OptionSpec& s : specs) {
    std::string left = "  ";
    left += s.short_name ? std::string("-") + s.short_name + ", " : "    ";
    left += "--";
    left += s.name;
    if (!s.value_name.empty()) {
      left += ' ';
      left += s.value_name;
    }
    if (left.size() < 34) left.resize(34, ' ');
    else left += "  ";
    out += left;
    out += s.help;
    if (s.repeatable) out += " (repeatable)";
    out += '\n';
  }
  return out;
}

}  // namespace gantry::tools
