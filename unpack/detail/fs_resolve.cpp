#include "unpack/detail/fs_resolve.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.hpp"

namespace gantry::unpack::detail {

std::pair<FileHandle, int> open_in_root(int root_fd, const char* path, int flags, std::uint64_t extra_resolve) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve;
  const char* name = *path == '\0' ? "." : path;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_fd, name, &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return {FileHandle(static_cast<int>(fd)), fd < 0 ? errno : 0};
}

FileHandle dup_handle(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw core::errno_error(errno, "cannot duplicate a directory handle");
  return FileHandle(copy);
}

}  // namespace gantry::unpack::detail
