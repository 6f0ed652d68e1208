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

ParsedArgs parse_args(std::string_view command, std::span<const OptionSpec> specs, std::span<const std::string> args) {
  ParsedArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.has_rest_separator_ = true;
      out.rest_.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    const OptionSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (arg.size() > 2 && arg.starts_with("--")) {
      std::string_view body = std::string_view(arg).substr(2);
      auto eq = body.find('=');
      if (eq != std::string_view::npos) {
        inline_value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      spec = find_long(specs, body);
      if (spec == nullptr) throw usage(command, "unknown option --" + std::string(body));
    } else if (arg.size() == 2 && arg[0] == '-' && arg[1] != '-') {
      spec = find_short(specs, arg[1]);
      if (spec == nullptr) throw usage(command, "unknown option " + arg);
    } else {
      out.positionals_.push_back(arg);
      continue;
    }
    std::string name(spec->name);
    if (!spec->repeatable && out.options_.contains(name)) {
      throw usage(command, "--" + name + " given twice");
    }
    if (spec->value_name.empty()) {
      if (inline_value) throw usage(command, "--" + name + " takes no value");
      out.options_[name];  // present, no value
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) throw usage(command, "--" + name + " needs a value " + std::string(spec->value_name));
      inline_value = args[++i];
    }
    out.options_[name].push_back(std::move(*inline_value));
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
