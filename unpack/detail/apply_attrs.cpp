#include "unpack/detail/apply_attrs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <limits>

#include "core/error.hpp"

// Linux 6.6's fchmodat2 has one number on every architecture; Debian 12's
// kernel headers predate it.
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

namespace gantry::unpack::detail {

namespace {

core::Error bad_entry(std::string_view message, const TarEntry& entry) {
  return core::Error(core::ErrorKind::bad_input, message, core::ErrorContext{.path = entry.path});
}

// Tar carries no separate access time for most entries: like containerd and
// umoci, atime is set to mtime so that the tree is reproducible.
std::array<timespec, 2> atime_and_mtime(std::int64_t sec, std::int64_t nsec) {
  timespec t{};
  t.tv_sec = static_cast<time_t>(sec);
  t.tv_nsec = static_cast<long>(nsec);
  return {t, t};
}

void check_times(int rc, std::string_view what) {
  if (rc != 0) throw core::errno_error(errno, "cannot set times", std::string(what));
}

}  // namespace

void check_attributes(const TarEntry& entry) {
  constexpr std::int64_t kMaxId = std::numeric_limits<uid_t>::max() - 1;  // (uid_t)-1 means "unchanged"
  if (entry.uid < 0 || entry.uid > kMaxId || entry.gid < 0 || entry.gid > kMaxId) {
    throw bad_entry("uid or gid out of range", entry);
  }
  if (entry.mtime_nsec < 0 || entry.mtime_nsec >= 1'000'000'000) throw bad_entry("mtime nanoseconds out of range", entry);
  for (const Xattr& x : entry.xattrs) {
    if (x.name.empty() || x.name.find('\0') != std::string::npos) throw bad_entry("malformed xattr name", entry);
  }
}

void set_owner_fd(int fd, const TarEntry& entry) {
  if (::fchown(fd, static_cast<uid_t>(entry.uid), static_cast<gid_t>(entry.gid)) != 0) {
    throw core::errno_error(errno, "cannot change owner", entry.path);
  }
}

void set_owner_at(int dir_fd, const char* name, const TarEntry& entry) {
  if (::fchownat(dir_fd, name, static_cast<uid_t>(entry.uid), static_cast<gid_t>(entry.gid), AT_SYMLINK_NOFOLLOW) != 0) {
    throw core::errno_error(errno, "cannot change owner", entry.path);
  }
}

void set_mode_fd(int fd, std::uint32_t mode, std::string_view what) {
  if (::fchmod(fd, static_cast<mode_t>(mode & 07777)) != 0) {
    throw core::errno_error(errno, "cannot change mode", std::string(what));
  }
}

void set_mode_at(int dir_fd, const char* name, std::uint32_t mode, std::string_view what) {
  if (::syscall(SYS_fchmodat2, dir_fd, name, static_cast<mode_t>(mode & 07777), AT_SYMLINK_NOFOLLOW) == 0) return;
  int err = errno;
  if (err == ENOSYS) {
    // Before Linux 6.6: fchmodat without the flag follows a symlink, so
    // first prove the name is none. The applier is the only writer below
    // its root while it runs, so nothing can swap the name in between.
    struct stat st {};
    if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) err = errno;
    else if (S_ISLNK(st.st_mode)) err = ELOOP;
    else if (::fchmodat(dir_fd, name, static_cast<mode_t>(mode & 07777), 0) == 0) return;
    else err = errno;
  }
  throw core::errno_error(err, "cannot change mode", std::string(what));
}

bool is_overlay_private(std::string_view xattr_name) noexcept { return xattr_name.starts_with("trusted.overlay."); }

std::int64_t set_xattrs_fd(int fd, std::span<const Xattr> xattrs, std::string_view what) {
  std::int64_t skipped = 0;
  for (const Xattr& x : xattrs) {
    if (is_overlay_private(x.name)) {
      ++skipped;
    } else if (::fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0) != 0) {
      if (errno != ENOTSUP) throw core::errno_error(errno, "cannot set xattr " + x.name, std::string(what));
      ++skipped;
    }
  }
  return skipped;
}

std::int64_t set_xattrs_path(const std::string& path, std::span<const Xattr> xattrs, std::string_view what) {
  std::int64_t skipped = 0;
  for (const Xattr& x : xattrs) {
    if (is_overlay_private(x.name) || x.name.starts_with("user.")) {
      ++skipped;
    } else if (::lsetxattr(path.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0) != 0) {
      if (errno != ENOTSUP) throw core::errno_error(errno, "cannot set xattr " + x.name, std::string(what));
      ++skipped;
    }
  }
  return skipped;
}

void set_times_fd(int fd, std::int64_t sec, std::int64_t nsec, std::string_view what) {
  const auto times = atime_and_mtime(sec, nsec);
  check_times(::futimens(fd, times.data()), what);
}

void set_times_at(int dir_fd, const char* name, std::int64_t sec, std::int64_t nsec, std::string_view what) {
  const auto times = atime_and_mtime(sec, nsec);
  check_times(::utimensat(dir_fd, name, times.data(), AT_SYMLINK_NOFOLLOW), what);
}

}  // namespace gantry::unpack::detail
