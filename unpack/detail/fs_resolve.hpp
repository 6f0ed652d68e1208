#pragma once
// The one way the applier turns a cleaned name into a file descriptor:
// openat2(2) from the root's handle with RESOLVE_IN_ROOT, so that "..",
// absolute symlinks and relative symlinks that climb are all resolved as if
// the root were "/" (the kernel's own chroot-like walk, race-free against
// concurrent renames), and RESOLVE_NO_MAGICLINKS, so that a /proc-style
// magic link cannot jump to a descriptor outside. This closes the class of
// escapes behind CVE-2018-15664 (docker cp symlink race), CVE-2021-32760
// (containerd chmod through a symlink) and umoci GHSA-9m95-8hx6-7p9v.

#include <cstdint>
#include <utility>

#include "core/file_handle.hpp"

namespace gantry::unpack::detail {

using core::FileHandle;

// openat2(root_fd, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS | extra_resolve), retried on EINTR and EAGAIN (the
// kernel asks for a retry when a rename raced with the walk). `path` "" means
// the root itself. Returns the errno instead of throwing: ENOENT and ENOTDIR
// are answers, not failures, for most callers.
[[nodiscard]] std::pair<FileHandle, int> open_in_root(int root_fd, const char* path, int flags,
                                                      std::uint64_t extra_resolve = 0);

// A new descriptor for the same open file (F_DUPFD_CLOEXEC).
[[nodiscard]] FileHandle dup_handle(int fd);

}  // namespace gantry::unpack::detail
