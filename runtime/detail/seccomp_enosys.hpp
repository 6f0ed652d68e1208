#pragma once
// runc's -ENOSYS stub (libcontainer/seccomp/patchbpf), prepended to the
// program libseccomp exports: a syscall newer than every one the profile
// names, per architecture, returns ENOSYS instead of the default action's
// EPERM. C libraries try new calls first and fall back only on ENOSYS
// (glibc: clone3, fchmodat2...), and a profile written before a syscall
// existed cannot name it; under runc these fall back, so they must here.

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "runtime/seccomp_profile.hpp"

namespace gantry::runtime::detail {

// For the filter's architectures (libseccomp's SCMP_ARCH_* tokens, the
// native one among them); empty when the default action lets calls through
// (allow, log, trace: runc's rule) or already says ENOSYS.
[[nodiscard]] std::vector<sock_filter> enosys_stub(const SeccompFilterSpec& filter,
                                                   const std::vector<std::uint32_t>& arches);

}  // namespace gantry::runtime::detail
