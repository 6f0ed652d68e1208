#pragma once
// Owner, mode, extended attributes and times of one entry, applied either on
// a descriptor the applier opened itself with O_NOFOLLOW (regular files,
// directories) or on a name below a directory handle with the kernel's
// no-follow flags (symlinks, devices, fifos). Never through a link: a
// chmod or chown that follows a symlink planted by the image is how
// CVE-2021-32760 (containerd) reached files outside the root.
//
// The order matters and is the callers': owner first (chown(2) clears
// setuid/setgid and security.capability), then mode, then xattrs, then
// times (every other change moves ctime, and content moves mtime).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "unpack/tar_entry.hpp"

namespace gantry::unpack::detail {

// Throws Error(bad_input) naming the entry when a uid or gid does not fit
// uid_t (or is -1, which chown reads as "unchanged"), nanoseconds are out of
// range or an xattr name is empty or holds a NUL byte.
void check_attributes(const TarEntry& entry);

void set_owner_fd(int fd, const TarEntry& entry);
void set_owner_at(int dir_fd, const char* name, const TarEntry& entry);  // lchown semantics

void set_mode_fd(int fd, std::uint32_t mode, std::string_view what);
// fchmodat2(AT_SYMLINK_NOFOLLOW) (Linux 6.6): refuses a symlink instead of
// following it. For devices and fifos, which must not be opened to fchmod
// (opening a device can act on the hardware, opening a fifo blocks).
void set_mode_at(int dir_fd, const char* name, std::uint32_t mode, std::string_view what);

// Sets the entry's xattrs on an open file or directory. Skips what the
// filesystem does not support (ENOTSUP, as containerd does) and the
// overlayfs-private "trusted.overlay." namespace: in an image it would steer
// overlayfs lookups of the stacked snapshots (redirect, metacopy, opaque).
// Returns how many were skipped.
[[nodiscard]] std::int64_t set_xattrs_fd(int fd, std::span<const Xattr> xattrs, std::string_view what);
// The same for a symlink, device or fifo, by a path string that the caller
// proved reaches the entry without a symlink (lsetxattr does not follow the
// last component). Linux allows "user." xattrs only on regular files and
// directories, so those are skipped here.
[[nodiscard]] std::int64_t set_xattrs_path(const std::string& path, std::span<const Xattr> xattrs,
                                           std::string_view what);

void set_times_fd(int fd, std::int64_t sec, std::int64_t nsec, std::string_view what);
void set_times_at(int dir_fd, const char* name, std::int64_t sec, std::int64_t nsec, std::string_view what);

// True for xattr names the applier never writes from an image.
[[nodiscard]] bool is_overlay_private(std::string_view xattr_name) noexcept;

}  // namespace gantry::unpack::detail
