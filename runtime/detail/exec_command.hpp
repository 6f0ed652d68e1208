#pragma once
// The last step of a container's start, shared by the launcher's child
// (container_init) and the init program (runtime/init/gantry_init.cpp):
// execve of the command through its PATH candidates, or a one-line report
// of why not on the error pipe. System calls only, no allocation: safe
// between a raw clone of a threaded process and execve. Depends on libc
// alone, so that the init links statically.

#include <cstddef>

namespace gantry::runtime::detail {

// What the child reports when it cannot start the command. EOF on the pipe
// instead means execve succeeded.
struct InitFailure {
  int exit_status = 0;    // 125, 126 or 127
  char message[512] = {};  // one line
};

// Appends `text` to the NUL-terminated `buffer` of `size` bytes, cutting it
// short where it does not fit.
void append(char* buffer, std::size_t size, const char* text);

// Writes "WHAT SUBJECT: strerror(ERR)" (subject and error when given) to
// `error_fd` and exits with `status`.
[[noreturn]] void report_failure(int error_fd, int status, const char* what, const char* subject, int err);

struct CommandExec {
  const char* command = nullptr;            // argv[0], for messages
  const char* const* candidates = nullptr;  // where to execve argv[0] from, in order
  int candidate_count = 0;
  bool command_has_slash = false;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

// execve through the candidates (the container's PATH), as Docker reports:
// 127 when no candidate exists, 126 when one exists but cannot be executed.
[[noreturn]] void exec_command(const CommandExec& exec, int error_fd);

}  // namespace gantry::runtime::detail
