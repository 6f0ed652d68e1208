// gantry bundle [opts] REF DIR [-- CMD ARG...]: an OCI runtime bundle,
// DIR/rootfs (the flattened image) and DIR/config.json (its process by
// Docker's rules), that runc or crun run as it is.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.hpp"
#include "core/file_tree.hpp"
#include "core/store.hpp"
#include "engine/rootfs_target.hpp"
#include "runtime/oci_config.hpp"
#include "runtime/process_spec.hpp"
#include "runtime/rootfs.hpp"
#include "tools/gantry/command_engine.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/process_cli.hpp"
#include "tools/gantry/unpack_cli.hpp"

namespace gantry::tools {
namespace {

namespace fs = std::filesystem;

const std::vector<OptionSpec>& options() {
  static const std::vector<OptionSpec> specs = [] {
    std::vector<OptionSpec> all(kProcessOptions.begin(), kProcessOptions.end());
    all.push_back(OptionSpec{.name = "rootless", .value_name = "",
                             .help = "a config for an unprivileged runtime (user namespace mapping this user to 0)"});
    all.push_back(kMaxLayerSizeOption);
    return all;
  }();
  return specs;
}

// DIR new or empty; what this command made in it goes again on failure.
class BundleDir {
 public:
  explicit BundleDir(fs::path dir) : dir_(std::move(dir)) {
    if (!engine::is_empty_directory_or_absent(dir_, "bundle target")) {
      std::error_code ec;
      fs::create_directories(dir_, ec);
      if (ec) throw core::Error(core::ErrorKind::io, "cannot create: " + ec.message(), {.path = dir_.string()});
      created_ = true;
    }
  }
  ~BundleDir() {
    if (done_) return;
    try {
      if (created_) {
        core::remove_tree(dir_);
      } else {
        core::empty_directory(dir_);
      }
    } catch (const core::Error&) {
      // Best effort: the error that stopped the bundle is the one to report.
    }
  }
  BundleDir(const BundleDir&) = delete;
  BundleDir& operator=(const BundleDir&) = delete;

  [[nodiscard]] fs::path rootfs() const { return dir_ / "rootfs"; }

  // config.json last, through a temporary and a rename: a bundle with a
  // config is a complete one.
  void complete(const std::string& config) {
    const fs::path temporary = dir_ / ".config.json.partial";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out << config;
      out.flush();
      if (!out) throw core::Error(core::ErrorKind::io, "cannot write", {.path = temporary.string()});
    }
    if (::rename(temporary.c_str(), (dir_ / "config.json").c_str()) != 0) {
      throw core::errno_error(errno, "cannot rename into place", (dir_ / "config.json").string());
    }
    done_ = true;
  }

 private:
  fs::path dir_;
  bool created_ = false;
  bool done_ = false;
};

int run(const ParsedArgs& args) {
  if (args.positionals().size() != 2) {
    throw core::Error(core::ErrorKind::bad_input,
                      "gantry bundle: expected REF DIR [-- CMD ARG...] (see 'gantry bundle --help')");
  }
  core::Reference ref = core::Reference::parse(args.positionals()[0]);
  const runtime::ProcessOverrides overrides = process_overrides(args);
  runtime::BundleOptions bundle = bundle_options(args);
  bundle.rootless = args.flag("rootless");
  bundle.host_uid = ::getuid();
  bundle.host_gid = ::getgid();
  CommandEngine images(args, engine_options(args), interruptible_registry_options(args));
  BundleDir dir(args.positionals()[1]);
  engine::UnpackReport report =
      images.carry_out({.reference = ref, .goal = engine::Goal::rootfs, .rootfs = dir.rootfs()});
  runtime::ProcessSpec process = runtime::make_process_spec(report.image.config, overrides, dir.rootfs(),
                                                            bundle.hostname);
  runtime::make_directory_in(dir.rootfs(), process.cwd);
  dir.complete(runtime::oci_config_json(process, bundle));
  print_unpack_summary(args, report, dir.rootfs().string());
  return 0;
}

}  // namespace

Command bundle_command() {
  return Command{
      .name = "bundle",
      .synopsis = "[OPTIONS] REF DIR [-- CMD ARG...]",
      .summary = "write an OCI runtime bundle (DIR/config.json + DIR/rootfs) that runc runs",
      .description =
          "Unpacks REF into DIR/rootfs as `gantry unpack` does, then writes DIR/config.json\n"
          "(OCI runtime-spec 1.0.2) with the image's process by Docker's rules: Entrypoint +\n"
          "Cmd (a CMD after -- replaces Cmd, --entrypoint replaces Entrypoint), Env plus -e,\n"
          "WorkingDir (created in the rootfs if missing), User resolved in the image's\n"
          "/etc/passwd and /etc/group (with supplementary groups), a default PATH, HOSTNAME\n"
          "and HOME. The container gets new PID, IPC, UTS and mount namespaces, the host's\n"
          "network (or a new one with --net none), Docker's default capabilities,\n"
          "no_new_privs and Docker's default seccomp profile in linux.seccomp (none with\n"
          "--security-opt seccomp=unconfined; seccomp=FILE: a Docker-format JSON profile).\n"
          "With --rootless the config maps this user to root in a user\n"
          "namespace, as `runc spec --rootless` does. Run it with `runc run --bundle DIR ID`.\n"
          "DIR must be new or empty; on failure it is left as it was found, and gantry exits\n"
          "125, as `gantry run` and docker run do when they fail themselves.",
      .options = options(),
      .takes_common_options = true,
      .run = run,
      .stops_on_signal = true,
      .failure_status = 125,
  };
}

}  // namespace gantry::tools
