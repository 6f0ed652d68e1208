#include "runtime/detail/exec_command.hpp"

#include <string.h>
#include <unistd.h>

#include <cerrno>

namespace gantry::runtime::detail {

void append(char* buffer, std::size_t size, const char* text) {
  std::size_t used = ::strnlen(buffer, size);
  if (used + 1 >= size) return;
  std::size_t room = size - used - 1;
  std::size_t n = ::strnlen(text, room);
  ::memcpy(buffer + used, text, n);
  buffer[used + n] = '\0';
}

void report_failure(int error_fd, int status, const char* what, const char* subject, int err) {
  InitFailure report;
  report.exit_status = status;
  append(report.message, sizeof report.message, what);
  if (subject) {
    append(report.message, sizeof report.message, " ");
    append(report.message, sizeof report.message, subject);
  }
  if (err != 0) {
    append(report.message, sizeof report.message, ": ");
    const char* text = ::strerrordesc_np(err);  // a static string: no locale, no allocation
    append(report.message, sizeof report.message, text ? text : "unknown error");
  }
  ssize_t ignored = ::write(error_fd, &report, sizeof report);
  (void)ignored;
  ::_exit(status);
}

void exec_command(const CommandExec& exec, int error_fd) {
  int denied = 0;
  for (int i = 0; i < exec.candidate_count; ++i) {
    ::execve(exec.candidates[i], exec.argv, exec.envp);
    if (errno == EACCES || errno == ENOEXEC || errno == EISDIR) {
      denied = errno;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      denied = errno;
      break;
    }
  }
  char what[300] = "exec: \"";
  append(what, sizeof what, exec.command);
  append(what, sizeof what, "\"");
  if (denied != 0) report_failure(error_fd, 126, what, nullptr, denied == EISDIR || denied == ENOEXEC ? EACCES : denied);
  append(what, sizeof what, exec.command_has_slash ? ": no such file or directory" : ": executable file not found in $PATH");
  report_failure(error_fd, 127, what, nullptr, 0);
}

}  // namespace gantry::runtime::detail
