#pragma once
// The child side of the launcher (launcher.hpp): everything between clone()
// and execve(), made only of system calls on data the parent prepared. The
// parent has threads when it clones, so the child must not allocate, take
// locks, or call glibc wrappers that act on "all threads" (setuid and
// friends, fork): raw system calls only. It reports a failure through
// `error_fd` and exits.

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>

#include "runtime/detail/exec_command.hpp"

namespace gantry::runtime::detail {

struct InitBindFile {
  const char* source;  // absolute, on the host
  const char* target;  // relative to the rootfs; exists (the parent made it)
};

struct ContainerInit {
  const char* cgroup_tasks = nullptr;  // the device cgroup's tasks file, to join first (if any)
  const char* rootfs = nullptr;  // absolute; a mount point unless bind_rootfs
  bool bind_rootfs = false;      // a plain directory: bind it onto itself first
  const char* hostname = nullptr;
  const InitBindFile* bind_files = nullptr;
  int bind_file_count = 0;
  const char* cwd = nullptr;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  int group_count = 0;
  const int* capabilities = nullptr;  // to keep in the bounding set (and effective for root)
  int capability_count = 0;
  CommandExec exec{};  // the command (its argv, envp and where to find it)
  int stdin_fd = -1;  // dup2'ed onto 0 when >= 0
  int tty_fd = -1;    // a terminal's slave side: the controlling tty and 0, 1, 2
  const char* tty_path = nullptr;  // its name on the host, bound to /dev/console (a
                                   // descriptor of the parent's mount namespace cannot be)
  bool with_init = false;  // PID 1 is a minimal init; the command its child
  const sock_fprog* seccomp = nullptr;  // installed right before execve (or the init's fork)
  unsigned seccomp_flags = 0;           // SECCOMP_FILTER_FLAG_*
  int init_fd = -1;                    // with_init: the init program, opened on the host
  char* const* init_argv = nullptr;    // its argv (gantry_init.cpp's usage)
  int error_fd = -1;
};

// Never returns: execs the command, or reports and exits.
[[noreturn]] void container_init(const ContainerInit& init);

}  // namespace gantry::runtime::detail
