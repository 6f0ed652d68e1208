#include "runtime/launcher.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "runtime/detail/container_init.hpp"
#include "runtime/detail/device_cgroup.hpp"
#include "runtime/detail/overlay_mount.hpp"
#include "runtime/detail/rootfs_file.hpp"
#include "runtime/rootfs.hpp"
#include "runtime/seccomp_cache.hpp"

namespace gantry::runtime {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using core::Error;
using core::ErrorKind;

int capability_number(const std::string& name) {
  static const std::map<std::string, int> numbers{
      {"CAP_CHOWN", CAP_CHOWN},           {"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
      {"CAP_FSETID", CAP_FSETID},         {"CAP_FOWNER", CAP_FOWNER},
      {"CAP_MKNOD", CAP_MKNOD},           {"CAP_NET_RAW", CAP_NET_RAW},
      {"CAP_SETGID", CAP_SETGID},         {"CAP_SETUID", CAP_SETUID},
      {"CAP_SETFCAP", CAP_SETFCAP},       {"CAP_SETPCAP", CAP_SETPCAP},
      {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE}, {"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
      {"CAP_KILL", CAP_KILL},             {"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE}};
  return numbers.at(name);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw Error(ErrorKind::io, "cannot write", {.path = path.string()});
}

// /etc/hosts, /etc/hostname and /etc/resolv.conf of the container, written
// beside it and bound over (empty files made in the rootfs if absent).
// The bind mounts' sources and targets, as strings the child can point at.
struct BindFile {
  std::string source;  // beside the container
  std::string target;  // relative to the rootfs
};

std::vector<BindFile> prepare_etc_files(const fs::path& rootfs, const fs::path& container,
                                                                const std::string& hostname) {
  std::string resolv;
  if (auto host = detail::read_rootfs_file("/", "etc/resolv.conf", 1 << 20)) resolv = *host;
  const std::vector<std::pair<std::string, std::string>> files{
      {"hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"},
      {"hostname", hostname + "\n"},
      {"resolv.conf", resolv}};
  make_directory_in(rootfs, "/etc");
  core::FileHandle root = core::open_file(rootfs, O_PATH | O_DIRECTORY);
  auto [etc, err] = detail::open_in_rootfs(root.get(), "etc", O_PATH | O_DIRECTORY);
  if (err != 0) throw core::errno_error(err, "cannot open", (rootfs / "etc").string());
  std::vector<BindFile> binds;
  for (const auto& [name, text] : files) {
    write_text(container / name, text);
    int fd = ::openat(etc.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
    binds.push_back({(container / name).string(), "etc/" + name});
  }
  return binds;
}

// Where execve looks for argv[0]: itself when it names a path, else each
// directory of the container's PATH.
std::vector<std::string> exec_candidates(const ProcessSpec& process) {
  const std::string& command = process.args.front();
  if (command.find('/') != std::string::npos) return {command};
  std::string path(kDefaultPath.substr(5));
  for (const auto& entry : process.env) {
    if (entry.starts_with("PATH=")) path = entry.substr(5);
  }
  std::vector<std::string> candidates;
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) candidates.push_back((dir.empty() ? "." : dir) + "/" + command);
  return candidates;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// --init: gantry-init beside this gantry (runtime/init/), opened on the
// host before clone; the child execs the descriptor.
core::FileHandle open_init_program() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ErrorKind::io, "cannot find gantry's own binary: " + ec.message(), {.path = "/proc/self/exe"});
  const fs::path init = self.parent_path() / "gantry-init";
  core::FileHandle fd(::open(init.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw core::errno_error(errno, "cannot open the init for --init (installed beside gantry)", init.string());
  return fd;
}

// gantry_init.cpp's usage: ERROR_FD N CANDIDATE... ARG...
std::vector<std::string> init_arguments(int error_fd, const std::vector<std::string>& candidates,
                                        const ProcessSpec& process) {
  std::vector<std::string> args{"gantry-init", std::to_string(error_fd), std::to_string(candidates.size())};
  args.insert(args.end(), candidates.begin(), candidates.end());
  args.insert(args.end(), process.args.begin(), process.args.end());
  return args;
}

// ---- signals -------------------------------------------------------------------

std::atomic<pid_t> g_child{0};
std::atomic<int> g_terminal{-1};  // the pty's master side, with -t

// The size of the terminal gantry runs in, onto the container's.
void copy_window_size(int master) {
  struct winsize size {};
  for (int fd : {STDIN_FILENO, STDOUT_FILENO}) {
    if (::ioctl(fd, TIOCGWINSZ, &size) == 0) {
      ::ioctl(master, TIOCSWINSZ, &size);
      return;
    }
  }
}

// The start of the latest burst of interrupts and how many it holds:
// atomics, as a signal handler and the terminal relay both count.
std::atomic<std::int64_t> g_burst_start_ns{0};
std::atomic<int> g_burst_count{0};

// Ctrl-C three times within a second (SIGINT to gantry, or the key from a
// raw terminal) kills the container: docker run's way out of one that
// ignores them, as a PID 1 without a handler does. Async-signal-safe.
void count_interrupt() noexcept {
  timespec now {};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const std::int64_t now_ns = std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  if (g_burst_count.load() == 0 || now_ns - g_burst_start_ns.load() > 1'000'000'000) {
    g_burst_start_ns = now_ns;
    g_burst_count = 1;
    return;
  }
  const pid_t child = g_child.load();
  if (++g_burst_count < 3 || child <= 0) return;
  constexpr char kSaid[] = "gantry: 3 interrupts within a second: killing the container\n";
  (void)!::write(STDERR_FILENO, kSaid, sizeof kSaid - 1);
  ::kill(child, SIGKILL);
}

void forward_signal(int signal) {
  if (signal == SIGWINCH && g_terminal.load() >= 0) copy_window_size(g_terminal.load());
  if (signal == SIGINT) count_interrupt();
  pid_t child = g_child.load();
  if (child > 0) ::kill(child, signal);
}

// -t: a pseudo-terminal whose slave side the container's process gets.
struct Terminal {
  core::FileHandle master;
  core::FileHandle slave;
  std::string slave_name;

  Terminal() {
    master = core::FileHandle(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) {
      throw core::errno_error(errno, "cannot allocate a terminal", "/dev/ptmx");
    }
    char name[128];
    if (::ptsname_r(master.get(), name, sizeof name) != 0) throw core::errno_error(errno, "cannot name the terminal", "");
    slave_name = name;
    slave = core::open_file(name, O_RDWR | O_NOCTTY);
    copy_window_size(master.get());
  }
};

// gantry's own terminal in raw mode while it relays a container's one
// (keys go to the container's line discipline, not to ours).
class RawMode {
 public:
  RawMode() {
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawMode() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  struct termios saved_ {};
  bool active_ = false;
};

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the reader went away: keep draining the terminal
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

constexpr char kCtrlC = 0x03;

// Copies the terminal's output to stdout (and, with -i, stdin to it) until
// every process holding the slave side is gone (read gives EIO). stdin's
// end becomes an end-of-file character, as a terminal's user would type.
void relay_terminal(int master, bool forward_stdin) {
  std::optional<RawMode> raw;
  if (forward_stdin && ::isatty(STDIN_FILENO)) raw.emplace();
  bool stdin_open = forward_stdin;
  char buffer[16384];
  for (;;) {
    pollfd fds[2] = {{master, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (::poll(fds, stdin_open ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(master, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      write_all(STDOUT_FILENO, buffer, static_cast<std::size_t>(n));
    }
    if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        stdin_open = false;
        const char eof = 0x04;
        write_all(master, &eof, 1);
      } else {
        // A raw terminal sends Ctrl-C as a key, not as a signal to gantry.
        if (raw) {
          for (ssize_t i = 0; i < n; ++i) {
            if (buffer[i] == kCtrlC) count_interrupt();
          }
        }
        write_all(master, buffer, static_cast<std::size_t>(n));
      }
    }
  }
}

constexpr std::array kForwarded = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

// Installed while the container runs; the old handlers come back after.
class SignalForwarding {
 public:
  explicit SignalForwarding(pid_t child) {
    g_child = child;
    struct sigaction action {};
    action.sa_handler = forward_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < kForwarded.size(); ++i) ::sigaction(kForwarded[i], &action, &saved_[i]);
  }
  ~SignalForwarding() {
    for (std::size_t i = 0; i < kForwarded.size(); ++i) ::sigaction(kForwarded[i], &saved_[i], nullptr);
    g_child = 0;
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

 private:
  std::array<struct sigaction, kForwarded.size()> saved_{};
};

int wait_status(pid_t child) {
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw core::errno_error(errno, "cannot wait for the container", "");
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

void check_can_launch() {
  if (::geteuid() != 0) {
    throw Error(ErrorKind::unsupported,
                "gantry run needs root (namespaces and mounts); for an unprivileged runtime use "
                "`gantry bundle --rootless` and runc");
  }
}

void remove_launch_leftovers(const fs::path& container_dir) {
  detail::DeviceCgroup::remove_stale(container_dir.filename().string());
}

LaunchResult launch(const LaunchSpec& spec) {
  check_can_launch();
  const auto started = Clock::now();
  LaunchResult result;
  const std::optional<detail::DeviceCgroup> device_cgroup =
      detail::DeviceCgroup::create(spec.container_dir.filename().string());
  std::optional<detail::OverlayMount> overlay;
  if (!spec.lower_dirs.empty()) {
    overlay.emplace(spec.lower_dirs, spec.container_dir,
                    spec.keep_upper ? detail::UpperSync::synced : detail::UpperSync::volatile_upper);
  }
  const fs::path rootfs = overlay ? overlay->merged() : spec.rootfs;

  // What the image or the command line got wrong: Docker's 126.
  ProcessSpec process;
  std::vector<BindFile> etc_files;
  try {
    process = make_process_spec(*spec.config, spec.overrides, rootfs, spec.options.hostname);
    make_directory_in(rootfs, process.cwd);
    for (const char* dir : {"/proc", "/dev", "/sys"}) make_directory_in(rootfs, dir);
    etc_files = prepare_etc_files(rootfs, spec.container_dir, spec.options.hostname);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::bad_input) throw;
    result.exit_status = 126;
    result.error = e.what();
    return result;
  }

  // Everything the child needs, as plain C data.
  const std::string rootfs_text = rootfs.string();
  std::vector<detail::InitBindFile> binds;
  for (const BindFile& file : etc_files) binds.push_back({file.source.c_str(), file.target.c_str()});
  std::vector<gid_t> groups(process.user.additional_gids.begin(), process.user.additional_gids.end());
  std::vector<int> caps;
  for (const auto& name : default_capabilities()) caps.push_back(capability_number(name));
  std::optional<SeccompProgram> seccomp;
  if (spec.options.seccomp) {
    seccomp.emplace(cached_seccomp_program(resolve_seccomp_profile(*spec.options.seccomp, default_capabilities()),
                                           spec.seccomp_cache));
  }
  const sock_fprog seccomp_filter = seccomp ? seccomp->program() : sock_fprog{};
  const std::vector<std::string> candidates = exec_candidates(process);
  std::vector<const char*> candidate_ptrs;
  for (const auto& c : candidates) candidate_ptrs.push_back(c.c_str());
  std::vector<char*> argv = c_strings(process.args);
  std::vector<char*> envp = c_strings(process.env);
  core::FileHandle null_stdin;
  if (!spec.keep_stdin && !spec.options.terminal) null_stdin = core::open_file("/dev/null", O_RDONLY);
  std::optional<Terminal> terminal;
  if (spec.options.terminal) terminal.emplace();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw core::errno_error(errno, "cannot create a pipe", "");
  core::FileHandle error_read(pipe_fds[0]), error_write(pipe_fds[1]);
  core::FileHandle init_program;
  std::vector<std::string> init_args;
  if (spec.with_init) {
    init_program = open_init_program();
    init_args = init_arguments(error_write.get(), candidates, process);
  }
  std::vector<char*> init_argv = c_strings(init_args);

  const detail::ContainerInit init{
      .cgroup_tasks = device_cgroup ? device_cgroup->tasks_path().c_str() : nullptr,
      .rootfs = rootfs_text.c_str(),
      .bind_rootfs = !overlay,
      .hostname = spec.options.hostname.c_str(),
      .bind_files = binds.data(),
      .bind_file_count = static_cast<int>(binds.size()),
      .cwd = process.cwd.c_str(),
      .uid = process.user.uid,
      .gid = process.user.gid,
      .groups = groups.data(),
      .group_count = static_cast<int>(groups.size()),
      .capabilities = caps.data(),
      .capability_count = static_cast<int>(caps.size()),
      .exec = {.command = process.args.front().c_str(),
               .candidates = candidate_ptrs.data(),
               .candidate_count = static_cast<int>(candidate_ptrs.size()),
               .command_has_slash = process.args.front().find('/') != std::string::npos,
               .argv = argv.data(),
               .envp = envp.data()},
      .stdin_fd = null_stdin ? null_stdin.get() : -1,
      .tty_fd = terminal ? terminal->slave.get() : -1,
      .tty_path = terminal ? terminal->slave_name.c_str() : nullptr,
      .with_init = spec.with_init,
      .seccomp = seccomp ? &seccomp_filter : nullptr,
      .seccomp_flags = seccomp ? seccomp->flags() : 0,
      .init_fd = init_program ? init_program.get() : -1,
      .init_argv = init_argv.data(),
      .error_fd = error_write.get(),
  };
  result.times.mount = Clock::now() - started;

  unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
  if (spec.options.isolated_network) flags |= CLONE_NEWNET;
  const auto cloned = Clock::now();
  // A raw clone: the child continues here on a copy of this stack, like
  // fork(), and runs only system calls on the data above.
  const long pid = ::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) throw core::errno_error(errno, "cannot create the container's namespaces", "");
  if (pid == 0) detail::container_init(init);

  SignalForwarding forwarding(static_cast<pid_t>(pid));
  error_write.reset();
  if (terminal) {
    terminal->slave.reset();
    g_terminal = terminal->master.get();
  }
  detail::InitFailure failure;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  result.times.exec = Clock::now() - cloned;
  overlay.reset();  // the child runs in its own copy of the mount
  if (n == 0 && spec.on_started) spec.on_started(static_cast<int>(pid), result.times);
  if (terminal && n == 0) relay_terminal(terminal->master.get(), spec.keep_stdin);
  g_terminal = -1;
  const int status = wait_status(static_cast<pid_t>(pid));
  if (n == static_cast<ssize_t>(sizeof failure)) {
    failure.message[sizeof failure.message - 1] = '\0';
    result.exit_status = failure.exit_status;
    result.error = failure.message;
    if (failure.exit_status == 125) throw Error(ErrorKind::io, std::string("container setup: ") + failure.message);
    return result;
  }
  result.exit_status = status;
  return result;
}

}  // namespace gantry::runtime
