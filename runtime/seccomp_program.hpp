#pragma once
// A seccomp filter compiled into classic BPF with libseccomp, as runc
// compiles a config.json's linux.seccomp, for the container's process to
// install with seccomp(SECCOMP_SET_MODE_FILTER) right before execve. It is
// compiled in gantry, before the clone: the child (cloned from a process
// with threads) cannot allocate, and makes raw system calls only.

#include <linux/filter.h>

#include <vector>

#include "runtime/seccomp_profile.hpp"

namespace gantry::runtime {

class SeccompProgram {
 public:
  SeccompProgram(std::vector<sock_filter> code, unsigned flags) : code_(std::move(code)), flags_(flags) {}

  // Points into this object: valid while it lives, unchanged.
  [[nodiscard]] sock_fprog program() const {
    return {static_cast<unsigned short>(code_.size()), const_cast<sock_filter*>(code_.data())};
  }
  [[nodiscard]] unsigned flags() const { return flags_; }  // SECCOMP_FILTER_FLAG_*
  [[nodiscard]] const std::vector<sock_filter>& code() const { return code_; }

 private:
  std::vector<sock_filter> code_;
  unsigned flags_;
};

// runc's rules (libcontainer/seccomp): ERRNO and TRACE without errnoRet
// return EPERM; a rule with the default action is dropped; a syscall name
// libseccomp does not know is skipped; the conditions of a rule all hold
// at once, unless two test the same argument, when each is a rule of its
// own; libseccomp's binary-tree layout past 32 syscalls; ENOSYS for calls
// newer than the profile knows (detail/seccomp_enosys.hpp). Error(bad_input)
// for rules libseccomp refuses (naming the syscall), or a program too long
// for the kernel (BPF_MAXINSNS).
[[nodiscard]] SeccompProgram compile_seccomp(const SeccompFilterSpec& filter);

// The SECCOMP_FILTER_FLAG_* bits for seccomp(2) from a filter's flags
// (TSYNC is none: the container's process has one thread).
[[nodiscard]] unsigned seccomp_kernel_flags(const SeccompFilterSpec& filter);

}  // namespace gantry::runtime
