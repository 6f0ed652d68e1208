#include "runtime/detail/rootfs_file.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::runtime::detail {

std::pair<core::FileHandle, int> open_in_rootfs(int root, const std::string& relative, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how));
  } while (fd < 0 && errno == EINTR);
  return {core::FileHandle(fd), fd < 0 ? errno : 0};
}

std::optional<std::string> read_rootfs_file(const std::filesystem::path& rootfs, const std::string& relative,
                                            std::size_t max_size) {
  core::FileHandle root = core::open_file(rootfs, O_PATH | O_DIRECTORY);
  const std::string where = (rootfs / relative).string();
  // O_NONBLOCK: a fifo named like the file must not hang us.
  auto [file, err] = open_in_rootfs(root.get(), relative, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (err == ENOENT || err == ENOTDIR) return std::nullopt;
  if (err != 0) throw core::errno_error(err, "cannot open", where);
  const struct stat st = core::stat_handle(file.get(), where);
  if (!S_ISREG(st.st_mode)) {
    throw core::Error(core::ErrorKind::bad_input, "not a regular file", {.path = where});
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_size) {
    throw core::Error(core::ErrorKind::bad_input, "file is larger than " + std::to_string(max_size) + " bytes",
                      {.path = where});
  }
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  bytes.resize(core::read_full(file.get(), bytes.data(), bytes.size(), where));
  return bytes;
}

}  // namespace gantry::runtime::detail
