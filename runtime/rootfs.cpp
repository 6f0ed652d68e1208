#include "runtime/rootfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "runtime/detail/rootfs_file.hpp"

namespace gantry::runtime {

void make_directory_in(const std::filesystem::path& rootfs, std::string_view path) {
  core::FileHandle root = core::open_file(rootfs, O_PATH | O_DIRECTORY);
  core::FileHandle current = core::open_file(rootfs, O_PATH | O_DIRECTORY);
  std::string here;  // relative to the rootfs, resolved inside it
  std::string_view rest = path;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const std::string name(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (name.empty() || name == ".") continue;
    here = here.empty() ? name : here + "/" + name;
    // A single name: mkdirat follows nothing; what exists (a symlink too)
    // is then opened with the confined resolution.
    if (name != ".." && ::mkdirat(current.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
      throw core::errno_error(errno, "cannot create directory", (rootfs / here).string());
    }
    auto [next, err] = detail::open_in_rootfs(root.get(), here, O_PATH | O_DIRECTORY);
    if (err == ENOENT) {
      throw core::Error(core::ErrorKind::bad_input, "a symlink of the image on the way to " + std::string(path) +
                                                        " leads nowhere", {.path = (rootfs / here).string()});
    }
    if (err == ENOTDIR) {
      throw core::Error(core::ErrorKind::bad_input, "not a directory in the image: " + std::string(path),
                        {.path = (rootfs / here).string()});
    }
    if (err != 0) throw core::errno_error(err, "cannot open", (rootfs / here).string());
    current = std::move(next);
  }
}

}  // namespace gantry::runtime
