#include "core/file_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::core {

namespace {

// How a tree of any depth goes with constant memory and two descriptors:
// the walk never stands deeper than one level below the top. A directory
// there that is not empty is not descended into but moved up into the top
// (renameat2 within one filesystem), where a later pass over the top takes
// it apart the same way. So there is no stack of handles or names to grow
// with the depth, and no way back up through ".." that a concurrent rename
// could redirect (a hostile container's processes may still be renaming):
// every step starts from the top's handle. A rename cannot cross a mount
// (EXDEV, EBUSY for a mount point), and every directory opened is checked
// to be on the top's mount, so nothing of another mount is touched.
constexpr std::string_view kHoistedPrefix = ".gantry-removing-";

[[nodiscard]] bool is_dot_or_dot_dot(const char* name) noexcept {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

[[nodiscard]] Error mount_inside(std::string_view what) {
  return Error(ErrorKind::io, "cannot remove: a mount inside", {.path = std::string(what)});
}

// The mount a handle is on. Bind mounts of one filesystem share st_dev:
// the mount id (statx STATX_MNT_ID, Linux 5.8) tells them apart; the
// device is the fallback on older kernels.
struct MountKey {
  std::uint64_t id = 0;
  bool is_mount_id = false;
  bool operator==(const MountKey&) const = default;
};

[[nodiscard]] MountKey mount_of(int fd, std::string_view what) {
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) != 0) {
    throw errno_error(errno, "cannot stat", std::string(what));
  }
  if ((sx.stx_mask & STATX_MNT_ID) != 0) return {sx.stx_mnt_id, true};
  return {makedev(sx.stx_dev_major, sx.stx_dev_minor), false};
}

[[nodiscard]] bool is_directory_at(int dir_fd, const char* name) {
  struct stat st {};
  return ::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

// Images carry mode-000 directories; a caller without CAP_DAC_OVERRIDE can
// neither list nor empty them until it gives itself u+rwx. An O_PATH handle
// needs no permission, and chmod through its /proc/self/fd link changes
// that very inode, never what a name was swapped for.
void open_up(int parent, const char* name) {
  FileHandle path(::openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!path || ::fstat(path.get(), &st) != 0) return;
  const std::string link = "/proc/self/fd/" + std::to_string(path.get());
  (void)::chmod(link.c_str(), (st.st_mode & 07777) | S_IRWXU);  // a failure shows in the removal
}

// A directory to empty, opened without following a link, on `mount`, with
// u+rwx so that its entries can go.
[[nodiscard]] FileHandle open_for_removal(int parent, const char* name, const MountKey& mount, std::string_view what) {
  FileHandle dir(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir && errno == EACCES) {
    open_up(parent, name);
    dir = FileHandle(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!dir) throw errno_error(errno, "cannot open a directory to remove", std::string(what));
  if (mount_of(dir.get(), what) != mount) throw mount_inside(what);
  struct stat st {};
  if (::fstat(dir.get(), &st) != 0) throw errno_error(errno, "cannot stat", std::string(what));
  if ((st.st_mode & S_IRWXU) != S_IRWXU) (void)::fchmod(dir.get(), (st.st_mode & 07777) | S_IRWXU);
  return dir;
}

class TreeRemover {
 public:
  TreeRemover(int top, std::string_view what) : top_(top), what_(what), mount_(mount_of(top, what)) {}

  // Passes over the top until one finds it empty: entries moved up during
  // a pass may or may not be listed by it (getdents64 over a changing
  // directory), the next pass takes them.
  void empty() {
    while (for_each_entry(top_, top_list_, [this](const char* name, unsigned char type) { remove(top_, name, type); })) {
    }
  }

 private:
  // Calls `f(name, d_type)` for each entry of `dir` (from its start);
  // false when there was none.
  template <class F>
  bool for_each_entry(int dir, char (&buffer)[16384], F&& f) {
    if (::lseek(dir, 0, SEEK_SET) < 0) throw errno_error(errno, "cannot list a directory to remove", std::string(what_));
    bool any = false;
    for (;;) {
      const ssize_t n = ::getdents64(dir, buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw errno_error(errno, "cannot list a directory to remove", std::string(what_));
      }
      if (n == 0) return any;
      for (ssize_t pos = 0; pos < n;) {
        const auto* entry = reinterpret_cast<const dirent64*>(buffer + pos);
        pos += entry->d_reclen;
        if (is_dot_or_dot_dot(entry->d_name)) continue;
        any = true;
        f(entry->d_name, entry->d_type);
      }
    }
  }

  // One entry of the top or of a directory just below it.
  void remove(int dir, const char* name, unsigned char type) {
    if (type != DT_DIR) {
      if (::unlinkat(dir, name, 0) == 0) return;
      const int err = errno;
      if (err == ENOENT) return;
      if (err == EBUSY) throw mount_inside(what_);  // a file bind-mounted over it
      // unlink(2) of a directory: EISDIR on Linux, EPERM per POSIX (and
      // d_type DT_UNKNOWN on some filesystems).
      if ((err != EISDIR && err != EPERM) || !is_directory_at(dir, name)) fail(err, "cannot remove a file inside");
    }
    if (::unlinkat(dir, name, AT_REMOVEDIR) == 0 || errno == ENOENT) return;
    const int err = errno;
    if (err == EBUSY) throw mount_inside(what_);
    if (err != ENOTEMPTY && err != EEXIST) fail(err, "cannot remove a directory inside");
    if (dir != top_) {
      move_up(dir, name);
      return;
    }
    {
      FileHandle child = open_for_removal(dir, name, mount_, what_);
      const int fd = child.get();
      while (for_each_entry(fd, child_list_, [this, fd](const char* n, unsigned char t) { remove(fd, n, t); })) {
      }
    }
    if (::unlinkat(dir, name, AT_REMOVEDIR) != 0 && errno != ENOENT) fail(errno, "cannot remove a directory inside");
  }

  // A directory two levels down goes into the top under a fresh name.
  void move_up(int dir, const char* name) {
    bool opened_up = false;
    for (;;) {
      // Formatted in place: one allocation per level would be the only
      // thing to grow with the depth (in a sanitizer's quarantine at least).
      char target[kHoistedPrefix.size() + 24];
      std::snprintf(target, sizeof target, "%.*s%llu", static_cast<int>(kHoistedPrefix.size()), kHoistedPrefix.data(),
                    static_cast<unsigned long long>(moved_++));
      if (::renameat2(dir, name, top_, target, RENAME_NOREPLACE) == 0 || errno == ENOENT) return;
      const int err = errno;
      if (err == EEXIST) continue;
      if (err == EXDEV || err == EBUSY) throw mount_inside(what_);
      // Moving a directory rewrites its "..": it must be writable.
      if ((err == EACCES || err == EPERM) && !opened_up) {
        open_up(dir, name);
        opened_up = true;
        continue;
      }
      fail(err, "cannot move a directory inside up to remove it");
    }
  }

  [[noreturn]] void fail(int err, std::string_view step) const { throw errno_error(err, step, std::string(what_)); }

  int top_;
  std::string_view what_;
  MountKey mount_;
  std::uint64_t moved_ = 0;
  alignas(dirent64) char top_list_[16384];
  alignas(dirent64) char child_list_[16384];
};

}  // namespace

bool remove_tree_at(int dir_fd, const char* name, std::string_view what) {
  if (::unlinkat(dir_fd, name, 0) == 0) return true;
  const int err = errno;
  if (err == ENOENT) return false;
  if (err == EBUSY) throw mount_inside(what);
  if ((err != EISDIR && err != EPERM) || !is_directory_at(dir_fd, name)) {
    throw errno_error(err, "cannot remove", std::string(what));
  }
  {
    FileHandle top = open_for_removal(dir_fd, name, mount_of(dir_fd, what), what);
    TreeRemover(top.get(), what).empty();
  }
  if (::unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
    throw errno_error(errno, "cannot remove", std::string(what));
  }
  return true;
}

void remove_tree(const std::filesystem::path& dir) {
  std::filesystem::path path = dir.lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "a/b/"
  const std::filesystem::path name = path.filename();
  if (name.empty() || name == "." || name == "..") {
    throw Error(ErrorKind::io, "cannot remove: not a name of a directory", {.path = dir.string()});
  }
  const std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  auto [parent_fd, err] = try_open(parent, O_PATH | O_DIRECTORY);
  if (!parent_fd) {
    if (err == ENOENT) return;
    throw errno_error(err, "cannot open", parent.string());
  }
  (void)remove_tree_at(parent_fd.get(), name.c_str(), dir.string());
}

TreeUsage tree_usage(const std::filesystem::path& dir) {
  const std::string what = dir.string();
  auto [current, err] = try_open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!current) {
    if (err == ENOENT) return {};
    throw errno_error(err, "cannot open to measure", what);
  }
  struct stat st {};
  if (::fstat(current.get(), &st) != 0) throw errno_error(errno, "cannot stat", what);
  const dev_t device = st.st_dev;
  TreeUsage usage{.bytes = st.st_blocks * 512, .entries = 1};
  std::set<std::pair<dev_t, ino_t>> linked;  // inodes of several names, counted once
  // The directories above the current one: each one's inode, and where in
  // it the listing goes on once the walk is back.
  struct Level {
    ino_t inode;
    off_t resume;
  };
  std::vector<Level> above;
  ino_t inode = st.st_ino;
  off_t position = 0;
  alignas(dirent64) char buffer[16384];
  for (;;) {
    bool descended = false;
    if (::lseek(current.get(), position, SEEK_SET) < 0) throw errno_error(errno, "cannot list to measure", what);
    while (!descended) {
      const ssize_t n = ::getdents64(current.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw errno_error(errno, "cannot list to measure", what);
      if (n == 0) break;
      for (ssize_t pos = 0; pos < n && !descended;) {
        const auto* entry = reinterpret_cast<const dirent64*>(buffer + pos);
        pos += entry->d_reclen;
        position = entry->d_off;
        if (is_dot_or_dot_dot(entry->d_name)) continue;
        struct stat child {};
        if (::fstatat(current.get(), entry->d_name, &child, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
        ++usage.entries;
        if (!S_ISDIR(child.st_mode)) {
          if (child.st_nlink > 1 && !linked.emplace(child.st_dev, child.st_ino).second) continue;
          usage.bytes += child.st_blocks * 512;
          continue;
        }
        usage.bytes += child.st_blocks * 512;
        if (child.st_dev != device) continue;  // a mount point: its content is another filesystem's
        FileHandle down(::openat(current.get(), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        struct stat opened {};
        if (!down || ::fstat(down.get(), &opened) != 0 || opened.st_ino != child.st_ino || opened.st_dev != device) {
          continue;
        }
        above.push_back({inode, position});
        current = std::move(down);
        inode = opened.st_ino;
        position = 0;
        descended = true;
      }
    }
    if (descended) continue;
    if (above.empty()) return usage;
    FileHandle up(::openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat parent {};
    if (!up || ::fstat(up.get(), &parent) != 0 || parent.st_ino != above.back().inode || parent.st_dev != device) {
      throw Error(ErrorKind::io, "cannot measure: the tree changed while it was walked", {.path = what});
    }
    current = std::move(up);
    inode = parent.st_ino;
    position = above.back().resume;
    above.pop_back();
  }
}

void empty_directory(const std::filesystem::path& dir) {
  FileHandle top = open_file(dir, O_RDONLY | O_DIRECTORY);
  TreeRemover(top.get(), dir.string()).empty();
}

}  // namespace gantry::core
