#include "tools/gantry/bench/watched_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "tools/gantry/interrupt.hpp"

extern char** environ;

namespace gantry::tools::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kTailBytes = 4096;
constexpr std::size_t kMaxLine = 64 << 10;  // a longer "line" is matched in pieces
constexpr auto kPollInterval = 10ms;

std::string command_name(const std::vector<std::string>& argv) {
  std::string name;
  for (std::size_t i = 0; i < argv.size() && i < 3; ++i) name += (i ? " " : "") + argv[i];
  return name;
}

int status_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

void check_interrupted() {
  if (interrupt_token().stop_requested()) throw core::Error(core::ErrorKind::io, "interrupted");
}

WatchedProcess::WatchedProcess(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw core::errno_error(errno, "cannot create a pipe");
  output_ = core::FileHandle(pipe_fds[0]);
  core::FileHandle theirs(pipe_fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), STDERR_FILENO);
  // The bench blocks SIGINT and SIGTERM (tools/gantry/interrupt.hpp); a
  // spawned process inherits the mask, and must not.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  started_ = Clock::now();
  const int error = ::posix_spawnp(&pid_, args[0], &actions, &attributes, args.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    pid_ = -1;
    throw core::Error(core::ErrorKind::io, "cannot run " + argv[0] + ": " +
                                               (error == ENOENT ? "not found in PATH" : std::strerror(error)));
  }
  pidfd_ = core::FileHandle(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (!pidfd_) {
    const int err = errno;
    kill();
    throw core::errno_error(err, "cannot watch " + argv[0]);
  }
  ::fcntl(output_.get(), F_SETFL, O_NONBLOCK);
}

WatchedProcess::~WatchedProcess() {
  if (pid_ > 0 && !status_) {
    kill();
    (void)wait(Clock::now() + 10s);
  }
}

void WatchedProcess::kill() noexcept {
  if (pid_ > 0 && !status_) ::kill(pid_, SIGKILL);
}

bool WatchedProcess::drain(const std::regex* line) {
  bool matched = false;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(output_.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    const std::string_view got(buffer, static_cast<std::size_t>(n));
    tail_.append(got);
    if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
    for (char c : got) {
      if (c != '\n' && partial_line_.size() < kMaxLine) {
        partial_line_ += c;
        continue;
      }
      if (c != '\n') partial_line_ += c;
      if (line != nullptr && !matched && std::regex_search(partial_line_, *line)) matched = true;
      partial_line_.clear();
    }
  }
  return matched;
}

bool WatchedProcess::reap() {
  if (status_) return true;
  int status = 0;
  const pid_t got = ::wait4(pid_, &status, WNOHANG, &usage_);
  if (got != pid_) return false;
  status_ = status_of(status);
  return true;
}

WatchedProcess::Outcome WatchedProcess::wait_ready(const Readiness& readiness, Clock::time_point deadline) {
  const std::regex* line = readiness.kind == Readiness::Kind::line ? &readiness.line : nullptr;
  for (;;) {
    check_interrupted();
    pollfd fds[2] = {{.fd = output_.get(), .events = POLLIN, .revents = 0},
                     {.fd = pidfd_.get(), .events = POLLIN, .revents = 0}};
    const auto wait = readiness.polled() ? kPollInterval : 100ms;  // 100 ms: to hear an interrupt
    (void)::poll(fds, 2, static_cast<int>(wait.count()));
    if (drain(line)) {
      ready_at_ = Clock::now();
      return Outcome::ready;
    }
    if ((fds[1].revents & POLLIN) != 0 && reap()) {
      // What it wrote last, and a last line without its newline.
      if (drain(line) || (line != nullptr && std::regex_search(partial_line_, *line))) {
        ready_at_ = Clock::now();
        return Outcome::ready;
      }
      if (readiness.kind == Readiness::Kind::exit && *status_ == 0) {
        ready_at_ = Clock::now();
        return Outcome::ready;
      }
      return Outcome::exited;
    }
    if (readiness.polled() && answers(readiness)) {
      ready_at_ = Clock::now();
      return Outcome::ready;
    }
    if (Clock::now() >= deadline) return Outcome::timed_out;
  }
}

int WatchedProcess::wait(Clock::time_point deadline) {
  while (!reap()) {
    pollfd fds[2] = {{.fd = output_.get(), .events = POLLIN, .revents = 0},
                     {.fd = pidfd_.get(), .events = POLLIN, .revents = 0}};
    (void)::poll(fds, 2, 100);
    drain(nullptr);  // a process writing to a full pipe would never end
    if (Clock::now() >= deadline) {
      kill();
      deadline = Clock::now() + 10s;
    }
  }
  drain(nullptr);
  return *status_;
}

std::string WatchedProcess::output_tail() const {
  std::string tail = tail_.size() > 600 ? tail_.substr(tail_.size() - 600) : tail_;
  std::replace(tail.begin(), tail.end(), '\n', ' ');
  while (!tail.empty() && tail.back() == ' ') tail.pop_back();
  return tail;
}

std::string run_to_end(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  WatchedProcess process(argv);
  const auto deadline = WatchedProcess::Clock::now() + timeout;
  if (process.wait_ready(Readiness{}, deadline) != WatchedProcess::Outcome::ready) {
    const std::string why = process.status() ? "exited with status " + std::to_string(*process.status())
                                             : "did not finish in " + std::to_string(timeout.count()) + " s";
    throw core::Error(core::ErrorKind::io, command_name(argv) + " " + why + ": " + process.output_tail());
  }
  return process.output();
}

std::string first_line_of(const std::vector<std::string>& argv) {
  try {
    const std::string out = run_to_end(argv, std::chrono::seconds(30));
    return out.substr(0, out.find('\n'));
  } catch (const core::Error&) {
    return "unknown";
  }
}

}  // namespace gantry::tools::bench
