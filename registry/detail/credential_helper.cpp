// run_credential_helper: the one place gantry starts another program while
// pulling. Kept apart from the config parsing it serves.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "registry/detail/docker_config.hpp"

extern char** environ;

namespace gantry::registry::detail {

namespace {

constexpr std::size_t kMaxHelperOutput = 1024 * 1024;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

[[noreturn]] void helper_error(std::string_view program, const std::string& why) {
  throw core::Error(core::ErrorKind::auth, "credential helper " + std::string(program) + ": " + why);
}

}  // namespace

std::optional<Credentials> run_credential_helper(std::string_view name, std::string_view server) {
  std::string program = "docker-credential-" + std::string(name);
  if (name.empty() || name.find('/') != std::string_view::npos) helper_error(program, "invalid helper name");

  // stdin is a socket so that writing to a helper that exited early fails
  // with EPIPE (MSG_NOSIGNAL) instead of killing gantry with SIGPIPE.
  int in_pair[2];
  int out_pipe[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) {
    helper_error(program, std::string("socketpair: ") + std::strerror(errno));
  }
  Fd in_ours(in_pair[0]), in_theirs(in_pair[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) helper_error(program, std::string("pipe: ") + std::strerror(errno));
  Fd out_ours(out_pipe[0]), out_theirs(out_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_theirs.fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_theirs.fd, STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::string arg0 = program;
  std::string arg1 = "get";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  // The helper starts with no signal blocked: gantry blocks SIGINT and
  // SIGTERM in all its threads while a command waits for them
  // (tools/gantry/interrupt.hpp), and a spawned process inherits the mask.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  int spawn_error = ::posix_spawnp(&pid, program.c_str(), &actions, &attributes, argv, environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  // glibc's posix_spawnp reports a failed exec here (ENOENT: not in PATH).
  if (spawn_error == ENOENT) helper_error(program, "not found in PATH");
  if (spawn_error != 0) helper_error(program, std::strerror(spawn_error));
  in_theirs.reset();
  out_theirs.reset();

  std::string request(server);
  request += '\n';
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(in_ours.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the helper did not read its input; its exit status tells
    sent += static_cast<std::size_t>(n);
  }
  in_ours.reset();

  std::string output;
  char buffer[4096];
  while (output.size() <= kMaxHelperOutput) {
    ssize_t n = ::read(out_ours.fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  out_ours.reset();

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) helper_error(program, std::string("waitpid: ") + std::strerror(errno));
  }
  // Helpers answer "credentials not found" with a non-zero exit: no credentials.
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  if (output.size() > kMaxHelperOutput) helper_error(program, "answer larger than 1 MiB");
  return parse_helper_output(output);
}

}  // namespace gantry::registry::detail
