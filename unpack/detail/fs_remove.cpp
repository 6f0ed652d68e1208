#include "unpack/detail/fs_remove.hpp"

#include <dirent.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "unpack/detail/fs_resolve.hpp"

namespace gantry::unpack::detail {

std::vector<std::string> list_dir(int dir_fd, std::string_view what) {
  // A fresh descriptor: getdents64 reads from the file position, which a
  // shared handle may have moved.
  FileHandle dir(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw core::errno_error(errno, "cannot open directory", std::string(what));
  std::vector<std::string> names;
  alignas(dirent64) char buffer[16384];
  for (;;) {
    ssize_t n = ::getdents64(dir.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw core::errno_error(errno, "cannot list directory", std::string(what));
    }
    if (n == 0) break;
    for (ssize_t pos = 0; pos < n;) {
      const auto* entry = reinterpret_cast<const dirent64*>(buffer + pos);
      pos += entry->d_reclen;
      if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
      names.emplace_back(entry->d_name);
    }
  }
  return names;
}

}  // namespace gantry::unpack::detail
