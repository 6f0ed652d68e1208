#pragma once
// The process a container runs, from the image config and the command line,
// by Docker's rules (docker run):
//
// - args: Entrypoint + Cmd. A command given on the command line replaces
//   Cmd; --entrypoint replaces Entrypoint and drops the image's Cmd ("" drops
//   the Entrypoint). Nothing left to run is an error.
// - env: the image's Env, then -e KEY=VAL (replacing the same KEY; a bare
//   -e KEY takes the caller's value, or is dropped when the caller has none),
//   PATH defaulted when absent, HOSTNAME set, HOME from the user's passwd
//   entry when absent; with a terminal (-t), TERM when absent: the
//   caller's, else xterm (docker's).
// - cwd: --workdir (absolute), else the image's WorkingDir, else "/".
// - user: --user, else the image's User, resolved in the rootfs (user.hpp).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/manifest.hpp"
#include "runtime/user.hpp"

namespace gantry::runtime {

inline constexpr std::string_view kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct ProcessOverrides {
  std::optional<std::string> entrypoint = std::nullopt;            // --entrypoint
  std::optional<std::vector<std::string>> command = std::nullopt;  // after `--`
  std::vector<std::string> env{};                                  // -e, in order
  std::optional<std::string> user = std::nullopt;                  // --user
  std::optional<std::string> workdir = std::nullopt;               // --workdir
  bool terminal = false;                                           // -t
};

struct ProcessSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd;
  ExecUser user;
};

// Error(bad_input) for no command, a relative --workdir, a malformed -e, or
// a user or group the rootfs does not know.
[[nodiscard]] ProcessSpec make_process_spec(const core::ImageConfig& config, const ProcessOverrides& overrides,
                                            const std::filesystem::path& rootfs, const std::string& hostname);

}  // namespace gantry::runtime
