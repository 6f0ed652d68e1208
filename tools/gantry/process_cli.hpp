#pragma once
// The command line of a container's process, shared by `gantry bundle` and
// (with issue 5's launcher) `gantry run`: docker run's options and their
// translation into runtime::ProcessOverrides.

#include <array>

#include "runtime/oci_config.hpp"
#include "runtime/process_spec.hpp"
#include "tools/gantry/args.hpp"

namespace gantry::tools {

inline constexpr std::array kProcessOptions = {
    OptionSpec{.name = "entrypoint", .value_name = "CMD", .help = "run CMD instead of the image's Entrypoint (\"\" for none); drops its Cmd"},
    OptionSpec{.name = "env", .value_name = "KEY[=VAL]", .help = "set an environment variable (KEY alone: this shell's value)", .repeatable = true, .short_name = 'e'},
    OptionSpec{.name = "env-file", .value_name = "FILE", .help = "read environment variables from FILE (docker's format: KEY=VAL or KEY a line, # comments), before -e", .repeatable = true},
    OptionSpec{.name = "user", .value_name = "USER[:GROUP]", .help = "name or uid (and group or gid) from the image's /etc/passwd, /etc/group", .short_name = 'u'},
    OptionSpec{.name = "workdir", .value_name = "DIR", .help = "the working directory (absolute; created if missing)", .short_name = 'w'},
    OptionSpec{.name = "hostname", .value_name = "NAME", .help = "the container's hostname, an RFC 1123 name (default: gantry)"},
    OptionSpec{.name = "net", .value_name = "host|none", .help = "share the host's network (default) or get a new empty one"},
    OptionSpec{.name = "tty", .value_name = "", .help = "give the process a terminal", .short_name = 't'},
    OptionSpec{.name = "security-opt", .value_name = "OPT", .help = "seccomp=unconfined: no seccomp filter; seccomp=FILE: the Docker-format JSON profile FILE, not Docker's default", .repeatable = true},
};

// From the options above and the arguments after `--` (the command).
// Error(bad_input) for a malformed --net, --hostname, --security-opt, seccomp profile or env file.
[[nodiscard]] runtime::ProcessOverrides process_overrides(const ParsedArgs& args);
[[nodiscard]] runtime::BundleOptions bundle_options(const ParsedArgs& args);

}  // namespace gantry::tools
