#include "core/file_tree.hpp"

#include <system_error>

#include "core/error.hpp"

namespace gantry::core {

namespace fs = std::filesystem;

void empty_directory(const fs::path& dir) {
  std::error_code ec;
  // Each directory is opened up before the iterator descends into it.
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove_all(entry.path(), ec);
}

void remove_tree(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return;
  if (fs::is_directory(fs::symlink_status(dir, ec))) {
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    empty_directory(dir);
  }
  fs::remove(dir, ec);
  if (ec) throw Error(ErrorKind::io, "cannot remove: " + ec.message(), {.path = dir.string()});
}

}  // namespace gantry::core
