#include "runtime/process_spec.hpp"

#include <cstdlib>

#include "core/error.hpp"

namespace gantry::runtime {

namespace {

using core::Error;
using core::ErrorKind;

std::string_view key_of(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// Sets KEY=VALUE in place of an entry with the same KEY, else appends it.
void set_env(std::vector<std::string>& env, std::string entry) {
  for (auto& existing : env) {
    if (key_of(existing) == key_of(entry)) {
      existing = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

bool has_env(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& entry : env) {
    if (key_of(entry) == key) return true;
  }
  return false;
}

std::vector<std::string> process_args(const core::ImageConfig& config, const ProcessOverrides& overrides) {
  std::vector<std::string> args;
  if (overrides.entrypoint) {
    if (!overrides.entrypoint->empty()) args.push_back(*overrides.entrypoint);
  } else {
    args = config.entrypoint;
  }
  const auto& command = overrides.command ? *overrides.command
                        : overrides.entrypoint ? std::vector<std::string>{}
                                               : config.cmd;
  args.insert(args.end(), command.begin(), command.end());
  if (args.empty()) {
    throw Error(ErrorKind::bad_input, "no command: the image has no Entrypoint or Cmd; give one after --");
  }
  return args;
}

}  // namespace

ProcessSpec make_process_spec(const core::ImageConfig& config, const ProcessOverrides& overrides,
                              const std::filesystem::path& rootfs, const std::string& hostname) {
  ProcessSpec spec{.args = process_args(config, overrides), .env = {}, .cwd = "/", .user = {}};

  if (overrides.workdir) {
    if (!overrides.workdir->starts_with('/')) {
      throw Error(ErrorKind::bad_input,
                  "the working directory \"" + *overrides.workdir + "\" is invalid: it needs to be an absolute path");
    }
    spec.cwd = *overrides.workdir;
  } else if (!config.working_dir.empty()) {
    // Old builders wrote relative WorkingDirs; Docker reads them from "/".
    spec.cwd = config.working_dir.starts_with('/') ? config.working_dir : "/" + config.working_dir;
  }

  spec.user = resolve_user_in(rootfs, overrides.user.value_or(config.user));

  for (const auto& entry : config.env) set_env(spec.env, entry);
  for (const auto& entry : overrides.env) {
    if (entry.empty() || entry.front() == '=') {
      throw Error(ErrorKind::bad_input, "invalid environment variable \"" + entry + "\": want KEY=VALUE or KEY");
    }
    if (entry.find('=') != std::string::npos) {
      set_env(spec.env, entry);
    } else if (const char* value = std::getenv(entry.c_str())) {
      set_env(spec.env, entry + "=" + value);
    }
  }
  if (!has_env(spec.env, "PATH")) spec.env.insert(spec.env.begin(), std::string(kDefaultPath));
  set_env(spec.env, "HOSTNAME=" + hostname);
  if (!has_env(spec.env, "HOME")) spec.env.push_back("HOME=" + spec.user.home);
  return spec;
}

}  // namespace gantry::runtime
