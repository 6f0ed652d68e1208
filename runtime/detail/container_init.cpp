#include "runtime/detail/container_init.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>

namespace gantry::runtime::detail {

namespace {

// ---- failure reports, without allocation ----------------------------------

[[noreturn]] void fail(const ContainerInit& init, int status, const char* what, const char* subject, int err) {
  report_failure(init.error_fd, status, what, subject, err);
}

[[noreturn]] void fail_setup(const ContainerInit& init, const char* what, const char* subject) {
  fail(init, 125, what, subject, errno);
}

// ---- paths inside the rootfs ------------------------------------------------

// A handle on `relative` inside the directory `root`, symlinks and ".."
// confined to it.
int open_inside(int root, const char* relative, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_PATH | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, root, relative, &how, sizeof how));
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// "/proc/self/fd/N" (or "/proc/self/fd/N/NAME"): mount(2) onto a target
// resolved safely beforehand. (Formatted by hand: stdio may take locks.)
struct FdPath {
  char text[64] = "/proc/self/fd/";
  explicit FdPath(int fd, const char* name = nullptr) {
    char digits[12];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + fd % 10);
      fd /= 10;
    } while (fd > 0 && n < 11);
    std::size_t at = ::strlen(text);
    while (n > 0) text[at++] = digits[--n];
    text[at] = '\0';
    if (name) {
      append(text, sizeof text, "/");
      append(text, sizeof text, name);
    }
  }
};

void mount_inside(const ContainerInit& init, int root, const char* target, const char* source, const char* type,
                  unsigned long flags, const char* data, int open_flags = O_DIRECTORY) {
  int fd = open_inside(root, target, open_flags);
  if (fd < 0) fail_setup(init, "cannot open mount point", target);
  FdPath path(fd);
  if (::mount(source, path.text, type, flags, data) != 0) fail_setup(init, "cannot mount", target);
  ::close(fd);
}

// ---- the steps ----------------------------------------------------------------

// The only device nodes a container can open (runc's default devices, and
// the terminal's console). Every other mount it can write or reach is
// nodev (the rootfs, /dev, shm, mqueue, /proc, /sys): a node the image
// ships or the container's root makes with mknod (CAP_MKNOD is Docker's
// default) cannot be opened, so no host disk is reachable. Docker/runc rely
// on the device cgroup; nodev works on cgroup v1, v2 and hybrids alike, and
// the device cgroup is added where there is one (device_cgroup.hpp).
// These nodes are the host's, each bound in on its own (a bind mount keeps
// its own flags, not nodev) and read-only, so that chmod or chown on them
// cannot change the host's inode.
struct Node {
  const char* name;    // in /dev
  const char* source;  // on the host
};
constexpr Node kDevices[] = {{"null", "/dev/null"},     {"zero", "/dev/zero"},       {"full", "/dev/full"},
                             {"random", "/dev/random"}, {"urandom", "/dev/urandom"}, {"tty", "/dev/tty"}};
struct Link {
  const char* name;
  const char* target;
};
constexpr Link kDevLinks[] = {{"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"},
                              {"stdout", "/proc/self/fd/1"},    {"stderr", "/proc/self/fd/2"},
                              {"ptmx", "pts/ptmx"},             {"core", "/proc/kcore"}};

void bind_node(const ContainerInit& init, int dev_dir, const char* name, const char* source) {
  int fd = ::openat(dev_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) fail_setup(init, "cannot create /dev/", name);
  ::close(fd);
  FdPath target(dev_dir, name);
  if (::mount(source, target.text, nullptr, MS_BIND, nullptr) != 0) fail_setup(init, "cannot bind", source);
  if (::mount(nullptr, target.text, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, nullptr) != 0) {
    fail_setup(init, "cannot make read-only", source);
  }
}

void make_dev(const ContainerInit& init, int root) {
  mount_inside(init, root, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k");
  // The tmpfs is ours: nothing of the image is in it, plain *at() calls are safe.
  int dev = open_inside(root, "dev", O_DIRECTORY);
  if (dev < 0) fail_setup(init, "cannot open", "/dev");
  FdPath dev_path(dev);
  int dev_dir = ::open(dev_path.text, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dev_dir < 0) fail_setup(init, "cannot open", "/dev");
  for (const Node& node : kDevices) bind_node(init, dev_dir, node.name, node.source);
  // -t: the terminal is the console too, as runc binds it.
  if (init.tty_path) bind_node(init, dev_dir, "console", init.tty_path);
  for (const Link& link : kDevLinks) {
    if (::symlinkat(link.target, dev_dir, link.name) != 0) fail_setup(init, "cannot create /dev/", link.name);
  }
  for (const char* dir : {"pts", "shm", "mqueue"}) {
    if (::mkdirat(dev_dir, dir, 0755) != 0) fail_setup(init, "cannot create /dev/", dir);
  }
  ::close(dev_dir);
  ::close(dev);
  // Not nodev: its nodes are the container's terminals (devpts has no mknod).
  mount_inside(init, root, "dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620,gid=5");
  mount_inside(init, root, "dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k");
  mount_inside(init, root, "dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, nullptr);
}

// A flattened copy is a plain directory of the host's filesystem: bound
// onto itself (not recursively: nothing mounted beneath comes along) and
// made nodev like the overlay, its other flags kept.
void bind_rootfs_nodev(const ContainerInit& init) {
  if (::mount(init.rootfs, init.rootfs, nullptr, MS_BIND, nullptr) != 0) fail_setup(init, "cannot bind", init.rootfs);
  // A bind remount sets the flags it is given (the atime ones excepted).
  struct statfs fs {};
  if (::statfs(init.rootfs, &fs) != 0) fail_setup(init, "cannot stat", init.rootfs);
  unsigned long kept = 0;
  if (fs.f_flags & ST_RDONLY) kept |= MS_RDONLY;
  if (fs.f_flags & ST_NOSUID) kept |= MS_NOSUID;
  if (fs.f_flags & ST_NOEXEC) kept |= MS_NOEXEC;
  if (::mount(nullptr, init.rootfs, nullptr, MS_BIND | MS_REMOUNT | MS_NODEV | kept, nullptr) != 0) {
    fail_setup(init, "cannot make nodev", init.rootfs);
  }
}

// Before anything of the image runs: into the device cgroup
// (device_cgroup.hpp), with every process it starts. This process has one
// thread: "0" to `tasks` moves it without the global lock a pid written to
// cgroup.procs takes (an RCU grace period, ~10 ms per run).
void join_device_cgroup(const ContainerInit& init) {
  if (!init.cgroup_tasks) return;
  int fd = ::open(init.cgroup_tasks, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, "0", 1) != 1) fail_setup(init, "cannot join the device cgroup", init.cgroup_tasks);
  ::close(fd);
}

void make_mounts(const ContainerInit& init) {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail_setup(init, "cannot make mounts private", nullptr);
  if (init.bind_rootfs) bind_rootfs_nodev(init);
  int root = ::open(init.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail_setup(init, "cannot open", init.rootfs);
  mount_inside(init, root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  make_dev(init, root);
  mount_inside(init, root, "sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, nullptr);
  for (int i = 0; i < init.bind_file_count; ++i) {
    const InitBindFile& bind = init.bind_files[i];
    mount_inside(init, root, bind.target, bind.source, nullptr, MS_BIND, nullptr, 0);
  }
  ::close(root);
}

// runc's trick: pivot_root(".", ".") stacks the old root under the new one,
// which is then detached.
void enter_rootfs(const ContainerInit& init) {
  if (::chdir(init.rootfs) != 0) fail_setup(init, "cannot enter", init.rootfs);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) fail_setup(init, "pivot_root into", init.rootfs);
  if (::umount2(".", MNT_DETACH) != 0) fail_setup(init, "cannot detach the old root", nullptr);
  if (::chdir("/") != 0) fail_setup(init, "cannot enter", "/");
}

// Docker's masked and read-only /proc paths (absent ones are skipped).
void protect_proc(const ContainerInit& init) {
  for (const char* file : {"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                           "/proc/sched_debug"}) {
    if (::mount("/dev/null", file, nullptr, MS_BIND, nullptr) != 0 && errno != ENOENT) fail_setup(init, "cannot mask", file);
  }
  for (const char* dir : {"/proc/acpi", "/proc/scsi", "/sys/firmware"}) {
    if (::mount("tmpfs", dir, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0 && errno != ENOENT) {
      fail_setup(init, "cannot mask", dir);
    }
  }
  for (const char* path : {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
    if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      if (errno == ENOENT) continue;
      fail_setup(init, "cannot bind", path);
    }
    // (A bind remount sets the flags given: proc's nodev, nosuid, noexec again.)
    if (::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REC,
                nullptr) != 0) {
      fail_setup(init, "cannot make read-only", path);
    }
  }
}

bool keeps(const ContainerInit& init, int cap) {
  for (int i = 0; i < init.capability_count; ++i) {
    if (init.capabilities[i] == cap) return true;
  }
  return false;
}

void drop_privileges(const ContainerInit& init) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail_setup(init, "cannot set no_new_privs", nullptr);
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (keeps(init, cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail_setup(init, "cannot drop a capability", nullptr);
  }
  // Raw system calls: glibc's wrappers would signal every thread it thinks
  // the process has (copied from the parent at clone) and wait on locks
  // those threads may have held: a deadlock seen in practice.
  if (::syscall(SYS_setgroups, init.group_count, init.groups) != 0) fail_setup(init, "cannot set groups", nullptr);
  if (::syscall(SYS_setresgid, init.gid, init.gid, init.gid) != 0) fail_setup(init, "cannot set gid", nullptr);
  if (::syscall(SYS_setresuid, init.uid, init.uid, init.uid) != 0) fail_setup(init, "cannot set uid", nullptr);
  if (init.uid != 0) return;  // the kernel cleared the permitted and effective sets
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < init.capability_count; ++i) {
    const int cap = init.capabilities[i];
    data[cap / 32].effective |= 1u << (cap % 32);
    data[cap / 32].permitted |= 1u << (cap % 32);
    data[cap / 32].inheritable |= 1u << (cap % 32);
  }
  if (::syscall(SYS_capset, &header, data) != 0) fail_setup(init, "cannot set capabilities", nullptr);
}

[[noreturn]] void exec_command(const ContainerInit& init) { exec_command(init.exec, init.error_fd); }

// --init: PID 1 is gantry-init (runtime/init/gantry_init.cpp), a program of
// its own run from the descriptor the parent opened on the host (it need
// not exist in the image): nothing of gantry's memory (the credentials of
// --auth-file), environment or binary stays in the container, as it would
// in a fork of gantry. It makes itself non-dumpable, forwards signals to
// the command, reaps orphans and exits as the command did.
[[noreturn]] void run_init(const ContainerInit& init) {
  // The init reports the command's exec failure on the error pipe: it
  // stays open across this exec (and closes on the command's).
  if (::fcntl(init.error_fd, F_SETFD, 0) != 0) fail_setup(init, "cannot pass the error pipe to the init", nullptr);
  ::syscall(SYS_execveat, init.init_fd, "", init.init_argv, init.exec.envp, AT_EMPTY_PATH);
  fail_setup(init, "cannot start the init", nullptr);
}

// The filter last, after no_new_privs (drop_privileges), as runc does: the
// steps before it make calls Docker's profile denies without CAP_SYS_ADMIN
// (mount, pivot_root, umount2, sethostname). A raw system call: glibc has
// no wrapper.
void install_seccomp(const ContainerInit& init) {
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, init.seccomp_flags, init.seccomp) != 0) {
    fail_setup(init, "cannot install the seccomp filter", nullptr);
  }
}

void attach_terminal(const ContainerInit& init) {
  if (::setsid() < 0 || ::ioctl(init.tty_fd, TIOCSCTTY, 0) != 0) fail_setup(init, "cannot attach the terminal", nullptr);
  for (int fd = 0; fd <= 2; ++fd) {
    if (::dup2(init.tty_fd, fd) != fd) fail_setup(init, "cannot attach the terminal", nullptr);
  }
}

}  // namespace

void container_init(const ContainerInit& init) {
  join_device_cgroup(init);
  make_mounts(init);
  enter_rootfs(init);
  protect_proc(init);
  if (::sethostname(init.hostname, ::strlen(init.hostname)) != 0) fail_setup(init, "cannot set the hostname", nullptr);
  if (::chdir(init.cwd) != 0) fail(init, 126, "cannot enter the working directory", init.cwd, errno);
  drop_privileges(init);
  // The container lives as long as gantry: if gantry dies, PID 1 gets
  // SIGKILL and the PID namespace goes with it. (After the credential
  // change, which clears it.)
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail_setup(init, "cannot set the parent-death signal", nullptr);
  if (init.tty_fd >= 0) attach_terminal(init);
  if (init.stdin_fd >= 0 && ::dup2(init.stdin_fd, 0) != 0) fail_setup(init, "cannot set stdin", nullptr);
  // Every other descriptor closes on exec; the error pipe too, which is how
  // the parent learns that execve succeeded.
  if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) fail_setup(init, "cannot close descriptors", nullptr);
  if (init.seccomp != nullptr) install_seccomp(init);
  if (init.with_init) run_init(init);
  exec_command(init);
}

}  // namespace gantry::runtime::detail
