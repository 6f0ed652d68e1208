// gantry-init: PID 1 of a container started with `gantry run --init`, as
// docker-init (tini) is for `docker run --init`. A program of its own, run
// by the launcher's child from a descriptor opened on the host (it need not
// exist in the image), so that nothing of gantry (its memory with the
// registry credentials, its environment, its binary) is in the container.
// Statically linked, libc only: the container's /lib is not ours to load.
//
//   gantry-init ERROR_FD N CANDIDATE... ARG...
//
// starts the command ARG... (execve through the N CANDIDATEs: the paths the
// container's PATH gives for ARG[0]; its environment is this one's),
// reporting an exec failure on ERROR_FD as the launcher does (exec_command);
// forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH
// to it; reaps every orphan the PID namespace hands over; and exits as the
// command did (128+N when it died of signal N).

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/detail/exec_command.hpp"

namespace {

using gantry::runtime::detail::CommandExec;
using gantry::runtime::detail::exec_command;

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
constexpr int kUsage = 125;  // as the launcher's own setup failures

volatile sig_atomic_t g_command = 0;

void forward_to_command(int signal) {
  if (g_command > 0) ::kill(g_command, signal);
}

bool parse_count(const char* text, int limit, int& out) {
  char* end = nullptr;
  errno = 0;
  const long value = ::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 0 || value > limit) return false;
  out = static_cast<int>(value);
  return true;
}

}  // namespace

int main(int argc, char** argv, char** envp) {
  // First: the container's processes (its root has no CAP_SYS_PTRACE) cannot
  // read this one's /proc/1/mem, environ or exe, nor ptrace it.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return kUsage;
  int error_fd = -1;
  int count = 0;
  if (argc < 4 || !parse_count(argv[1], 1 << 20, error_fd) || !parse_count(argv[2], argc - 4, count)) {
    static const char usage[] = "usage: gantry-init ERROR_FD N CANDIDATE... ARG... (started by gantry run --init)\n";
    ssize_t ignored = ::write(STDERR_FILENO, usage, sizeof usage - 1);
    (void)ignored;
    return kUsage;
  }
  char** command = argv + 3 + count;
  const CommandExec exec{.command = command[0],
                         .candidates = argv + 3,
                         .candidate_count = count,
                         .command_has_slash = ::strchr(command[0], '/') != nullptr,
                         .argv = command,
                         .envp = envp};
  // The pipe closes on the command's exec: EOF tells gantry it ran.
  if (::fcntl(error_fd, F_SETFD, FD_CLOEXEC) != 0) return kUsage;

  // Signals wait (blocked) until the command's pid is known.
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  for (int signal : kForwarded) sigaddset(&forwarded, signal);
  sigprocmask(SIG_BLOCK, &forwarded, &previous);
  struct sigaction action {};
  action.sa_handler = forward_to_command;
  sigemptyset(&action.sa_mask);
  for (int signal : kForwarded) ::sigaction(signal, &action, nullptr);

  const pid_t child = ::fork();
  if (child < 0) gantry::runtime::detail::report_failure(error_fd, kUsage, "cannot fork the command", nullptr, errno);
  if (child == 0) {
    // execve resets the handlers; the mask it would keep.
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    exec_command(exec, error_fd);
  }
  ::close(error_fd);
  g_command = child;
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  for (;;) {
    int status = 0;
    const pid_t reaped = ::wait(&status);
    if (reaped < 0) {
      if (errno == EINTR) continue;
      return kUsage;
    }
    if (reaped != child) continue;  // an orphan
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
}
