#pragma once
// The built-in launcher: a process in a container of its own, as `docker run`
// starts one (order of steps after crun's linux.c and youki's init):
//
//   parent: overlayfs of the image's snapshots (lower, up to overlayfs's
//           500) and a fresh upper and work dir under the container dir,
//           mounted nodev at CONTAINER/merged (detail/overlay_mount; a
//           flattened rootfs is bound nodev in the child);
//           the WorkingDir made, /etc/hosts, /etc/hostname, /etc/resolv.conf
//           prepared; argv, envp and every path prepared (the child does not
//           allocate: gantry has threads when it forks)
//   child:  clone(NEWNS | NEWPID | NEWUTS | NEWIPC [| NEWNET]); into the
//           device cgroup where cgroup v1's devices controller is (deny all,
//           runc's standard nodes allowed: detail/device_cgroup); mounts made
//           private; /proc, a nodev tmpfs /dev with the host's null, zero,
//           full, random, urandom and tty (and, with -t, the terminal as
//           console) each bound in read-only, pts, nodev shm and mqueue and
//           the standard symlinks: no other device node opens (container_init);
//           a read-only /sys, the three /etc files bound in, every target
//           resolved inside the rootfs (openat2 RESOLVE_IN_ROOT, mounted
//           through /proc/self/fd); pivot_root; hostname; no_new_privs; the
//           bounding set cut to Docker's default capabilities; groups, gid,
//           uid; descriptors above stdio closed on exec; the seccomp filter
//           (compiled by the parent: Docker's default profile unless
//           unconfined or given); execve through the container's PATH.
//           The command is PID 1 of its PID namespace; it is killed (and
//           the namespace with it) if gantry dies.
//   parent: forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
//           SIGWINCH to it, waits, and returns its exit status (128+N when it
//           died of signal N). With a terminal (-t) the process gets a pty's
//           slave side as its controlling terminal and stdio; gantry relays
//           the master side (and, with -i, its stdin, in raw mode if a tty).
//           With --init, PID 1 is gantry-init (runtime/init/, found beside
//           gantry's binary, exec'ed from a descriptor: nothing of gantry's
//           memory or environment is in the container), which forwards
//           those signals to the command, its child, and reaps orphans.
//
// Needs root (CAP_SYS_ADMIN for the mounts and namespaces).

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/oci_config.hpp"
#include "runtime/process_spec.hpp"

namespace gantry::runtime {

struct LaunchTimes {
  std::chrono::duration<double> mount{};  // overlay and rootfs preparation
  std::chrono::duration<double> exec{};   // clone to a successful execve
};

struct LaunchSpec {
  // The image's layer snapshots, top first, stacked with overlayfs; or
  // empty, with `rootfs` a flattened copy to run in (no overlayfs).
  std::vector<std::filesystem::path> lower_dirs{};
  std::filesystem::path rootfs{};
  // Where upper/, work/ and merged/ (and the /etc files) go; must exist.
  std::filesystem::path container_dir;
  // The container's writes outlive it (run --keep): its overlayfs upper is
  // synced like any filesystem. Otherwise the upper is mounted "volatile":
  // it goes at exit, so the unmount need not flush the store's filesystem
  // (the snapshots just written among it), a cold run's last ~100 ms.
  bool keep_upper = false;
  ProcessOverrides overrides{};
  const core::ImageConfig* config = nullptr;
  BundleOptions options{};
  bool keep_stdin = false;  // -i; otherwise stdin is /dev/null (with -t: the terminal, not fed)
  bool with_init = false;   // --init: gantry-init is PID 1, the command its child
  // Where compiled seccomp filters are kept between runs (empty: compiled each time).
  std::filesystem::path seccomp_cache{};
  // Called once the process's execve succeeded, before gantry waits for it,
  // with its PID (in the host's namespace) and how long getting there took:
  // what `run --json` reports as `launched`. Must not throw.
  std::function<void(int pid, const LaunchTimes& times)> on_started{};
};

struct LaunchResult {
  // The process's exit status, 128+N when it died of signal N; when it could
  // not be started, Docker's: 127 command not found, 126 not executable or a
  // user or working directory the image cannot give, with `error` saying so
  // in one line (e.g. `exec: "x": executable file not found in $PATH`).
  int exit_status = 0;
  std::string error{};
  LaunchTimes times{};
};

// Error(unsupported) unless this process may launch (it needs root): a
// caller checks before it does the work that leads up to a launch.
void check_can_launch();

// What a launch into `container_dir` leaves outside it when its gantry is
// killed (its device cgroup); for the caller that removes such dirs.
void remove_launch_leftovers(const std::filesystem::path& container_dir);

// Throws Error(io) or Error(unsupported) for what the machine cannot do
// (namespaces, mounts; Error(unsupported) when overlayfs cannot stack the
// lower dirs here: a flattened `rootfs` still runs); what the image or the
// command line got wrong is in the result.
[[nodiscard]] LaunchResult launch(const LaunchSpec& spec);

}  // namespace gantry::runtime
