#pragma once
// An exclusive flock(2) on a lock file, released when the object dies (also
// when a process crashes: the kernel drops it with the last descriptor).
//
// flock locks belong to an open file description, and every acquire opens the
// file anew, so two holders inside ONE process exclude each other exactly as
// two processes do. (fcntl/POSIX locks would not: they are per process.)
// The descriptor is O_CLOEXEC, but a fork()ed child shares it until it exits.

#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <utility>

#include "core/file_handle.hpp"
#include "core/error.hpp"

namespace gantry::core::detail {

class FileLock {
 public:
  // Waits until the lock is ours.
  [[nodiscard]] static FileLock acquire(const std::filesystem::path& path) { return *lock(path, LOCK_EX); }
  // nullopt when someone else (another process, or another FileLock in this
  // one) holds it.
  [[nodiscard]] static std::optional<FileLock> try_acquire(const std::filesystem::path& path) {
    return lock(path, LOCK_EX | LOCK_NB);
  }

  // Deletes the lock file while still holding it, then lets go. Whoever was
  // waiting on the old file sees it is no longer the one at `path` and locks
  // afresh, so lock files need not pile up and no two holders ever coexist.
  void remove_and_release() {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) throw errno_error(errno, "cannot remove", path_.string());
    fd_.reset();
  }

 private:
  FileLock(FileHandle fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}

  static std::optional<FileLock> lock(const std::filesystem::path& path, int operation) {
    for (;;) {
      FileHandle fd = open_file(path, O_RDWR | O_CREAT);
      int rc;
      do {
        rc = ::flock(fd.get(), operation);
      } while (rc != 0 && errno == EINTR);
      if (rc != 0) {
        if (errno == EWOULDBLOCK) return std::nullopt;
        throw errno_error(errno, "cannot lock", path.string());
      }
      // The file we locked may have been removed by its previous holder
      // (remove_and_release) while we waited: only the file still at `path`
      // counts.
      struct stat held = stat_handle(fd.get(), path);
      struct stat now {};
      if (::stat(path.c_str(), &now) == 0) {
        if (now.st_dev == held.st_dev && now.st_ino == held.st_ino) return FileLock(std::move(fd), path);
      } else if (errno != ENOENT) {
        throw errno_error(errno, "cannot stat", path.string());
      }
    }
  }

  FileHandle fd_;
  std::filesystem::path path_;
};

}  // namespace gantry::core::detail
