#include "tools/gantry/process_cli.hpp"

#include "core/error.hpp"
#include "runtime/hostname.hpp"

namespace gantry::tools {

runtime::ProcessOverrides process_overrides(const ParsedArgs& args) {
  runtime::ProcessOverrides overrides{.entrypoint = args.value("entrypoint"),
                                      .command = std::nullopt,
                                      .env = args.values("env"),
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
