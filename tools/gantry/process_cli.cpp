#include "tools/gantry/process_cli.hpp"

#include "core/error.hpp"
#include "runtime/hostname.hpp"
#include "tools/gantry/env_file.hpp"

namespace gantry::tools {

runtime::ProcessOverrides process_overrides(const ParsedArgs& args) {
  // As docker run: the env files' variables, then -e's (a later one of the same name wins).
  std::vector<std::string> env;
  for (const std::string& file : args.values("env-file")) {
    std::vector<std::string> variables = read_env_file(file);
    env.insert(env.end(), variables.begin(), variables.end());
  }
  for (std::string& variable : args.values("env")) env.push_back(std::move(variable));
  runtime::ProcessOverrides overrides{.entrypoint = args.value("entrypoint"),
                                      .command = std::nullopt,
                                      .env = std::move(env),
                                      .user = args.value("user"),
                                      .workdir = args.value("workdir"),
                                      .terminal = args.flag("tty")};
  if (args.has_rest_separator() && !args.rest().empty()) overrides.command = args.rest();
  return overrides;
}

runtime::BundleOptions bundle_options(const ParsedArgs& args) {
  runtime::BundleOptions options;
  if (auto hostname = args.value("hostname")) {
    runtime::check_hostname(*hostname);
    options.hostname = *hostname;
  }
  const std::string net = args.value("net").value_or("host");
  if (net != "host" && net != "none") {
    throw core::Error(core::ErrorKind::bad_input, "--net: want host or none, not \"" + net + "\"");
  }
  options.isolated_network = net == "none";
  options.terminal = args.flag("tty");
  for (const auto& option : args.values("security-opt")) {
    constexpr std::string_view kSeccomp = "seccomp=";
    if (!option.starts_with(kSeccomp)) {
      throw core::Error(core::ErrorKind::bad_input, "--security-opt: want seccomp=unconfined or seccomp=FILE, not \"" + option + "\"");
    }
    options.seccomp = runtime::seccomp_profile_option(option.substr(kSeccomp.size()));
  }
  return options;
}

}  // namespace gantry::tools
