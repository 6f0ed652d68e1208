#include "tools/gantry/bench/fresh_filesystem.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "core/file_tree.hpp"
#include "tools/gantry/bench/watched_process.hpp"

namespace gantry::tools::bench {

namespace fs = std::filesystem;

namespace {

// What a killed bench left: its mount first, then the tree.
void remove_leftover(const fs::path& dir) {
  ::umount2(dir.c_str(), MNT_DETACH);
  std::error_code ec;
  if (fs::exists(dir, ec)) core::remove_tree(dir);
}

}  // namespace

FreshFilesystem::FreshFilesystem(const fs::path& base, bool make_filesystem, std::int64_t size)
    : dir_(base / "run") {
  remove_leftover(dir_);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw core::Error(core::ErrorKind::io, "cannot create: " + ec.message(), {.path = dir_.string()});
  if (!make_filesystem) return;
  image_ = base / "fs.ext4";
  {
    // Sparse: only what the run writes takes space.
    core::FileHandle file(::open(image_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!file) throw core::errno_error(errno, "cannot create", image_.string());
    if (::ftruncate(file.get(), size) != 0) throw core::errno_error(errno, "cannot size", image_.string());
  }
  try {
    // MACHINE-NOTES: lazy inode tables and journal, no discard: made in
    // well under a second whatever the size.
    (void)run_to_end({"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                      image_.string()});
    (void)run_to_end({"mount", "-o", "loop", image_.string(), dir_.string()});
  } catch (...) {
    fs::remove(image_, ec);
    throw;
  }
}

FreshFilesystem::~FreshFilesystem() {
  std::error_code ec;
  if (!image_.empty()) {
    // A tool's daemon may still hold a file for a moment: detach, the
    // kernel frees it (and the loop device) once the last user is gone.
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
    fs::remove(image_, ec);
  }
  try {
    core::remove_tree(dir_);
  } catch (const core::Error&) {
    // The next bench in this directory removes it.
  }
}

}  // namespace gantry::tools::bench
