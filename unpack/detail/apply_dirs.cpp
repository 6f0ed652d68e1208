// Directory handles (a cache of openat2 results), parents the tar does not
// list, and directory attributes: owner and xattrs at once, mode and mtime in
// finish(), deepest first.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "unpack/detail/apply_attrs.hpp"
#include "unpack/detail/apply_impl.hpp"
#include "unpack/detail/apply_lower.hpp"
#include "unpack/detail/fs_path.hpp"
#include "unpack/detail/fs_resolve.hpp"

namespace gantry::unpack {

namespace detail {

// openat2 answers for a parent that cannot be walked.
core::Error parent_error(int err, const TarEntry& entry) {
  switch (err) {
    case ENOTDIR: return entry_error(core::ErrorKind::bad_input, "a parent of the entry is not a directory", entry);
    case ENOENT: return entry_error(core::ErrorKind::bad_input, "a parent of the entry is a dangling symlink", entry);
    case ELOOP: return entry_error(core::ErrorKind::bad_input, "too many symlinks in the entry's parents", entry);
    case ENAMETOOLONG: return entry_error(core::ErrorKind::bad_input, "entry name too long", entry);
    default: return core::errno_error(err, "cannot open parent directory", entry.path);
  }
}

}  // namespace detail

namespace {

using detail::CachedDir;
using detail::CleanPath;
using detail::DirRecord;
using detail::FileHandle;
using detail::Parent;

}  // namespace

void Applier::Impl::make_directory(int parent, const CleanPath& path, const TarEntry& entry) {
  bool over_whiteout = false;
  // 0700 until finish(): the owner can fill it whatever its final mode.
  if (::mkdirat(parent, path.base(), 0700) != 0) {
    if (errno != EEXIST) throw core::errno_error(errno, "cannot create directory", entry.path);
    struct stat st {};
    if (::fstatat(parent, path.base(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      throw core::errno_error(errno, "cannot stat", entry.path);
    }
    // Directory over directory: keep it (and what is in it), replace its
    // attributes. Anything else, a symlink to a directory included, goes.
    if (!S_ISDIR(st.st_mode)) {
      over_whiteout = options_.mode == ApplyMode::snapshot && detail::is_whiteout(st);
      remove_existing(parent, path.base(), entry);
      if (::mkdirat(parent, path.base(), 0700) != 0) {
        throw core::errno_error(errno, "cannot create directory", entry.path);
      }
    }
  }
  FileHandle dir(::openat(parent, path.base(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) throw core::errno_error(errno, "cannot open directory", entry.path);
  const struct stat st = update_directory(dir.get(), path.full, entry);
  // A directory that replaces a whiteout of the same layer must not show
  // the lower directory's content: overlayfs marks such a directory opaque
  // itself when mkdir meets a whiteout, and so does this.
  if (over_whiteout) detail::mark_opaque(dir.get(), entry.path);
  dirs_.insert_or_assign(path.full, CachedDir{std::move(dir), detail::is_setgid(st)});
}

struct stat Applier::Impl::update_directory(int fd, const std::string& path, const TarEntry& entry) {
  if (options_.preserve_owners) detail::set_owner_fd(fd, entry);
  stats_.xattrs_skipped += detail::set_xattrs_fd(fd, entry.xattrs, entry.path);
  const struct stat st = core::stat_handle(fd, entry.path);
  dir_records_.insert_or_assign(path, DirRecord{entry.mode, entry.mtime_sec, entry.mtime_nsec, st.st_dev, st.st_ino});
  return st;
}

// The handle of a cleaned directory path, from the cache or openat2. With
// `make_missing`, missing directories are made (implicit parents, not in the
// tar); without, a Parent with fd -1 when it does not exist.
Parent Applier::Impl::dir_for(const std::string& dir, const TarEntry& entry, bool make_missing) {
  if (dir.empty()) return Parent{root_.get(), root_setgid_};
  if (auto it = dirs_.find(dir); it != dirs_.end()) {
    return Parent{it->second.fd.get(), it->second.setgid, it->second.no_lower};
  }
  auto [fd, err] = detail::open_in_root(root_.get(), dir.c_str(), O_PATH | O_DIRECTORY);
  bool no_lower = false;
  if (!fd && err == ENOENT && make_missing) {
    detail::ImplicitDir made = make_implicit_dir(dir, entry);
    fd = std::move(made.fd);
    no_lower = made.no_lower;
    if (!fd) std::tie(fd, err) = detail::open_in_root(root_.get(), dir.c_str(), O_PATH | O_DIRECTORY);
  }
  if (!fd) {
    if (!make_missing && (err == ENOENT || err == ENOTDIR)) return Parent{};
    throw detail::parent_error(err, entry);
  }
  const bool setgid = detail::is_setgid(core::stat_handle(fd.get(), entry.path));
  const int handle = dirs_.insert_or_assign(dir, CachedDir{std::move(fd), setgid, no_lower}).first->second.fd.get();
  return Parent{handle, setgid, no_lower};
}

// A parent directory the tar does not list. Flatten: 0755, owned by the
// caller (root), as containerd and umoci make them. Snapshot: the same
// directory of the lower snapshots if there is one, attributes and all, or
// overlayfs would show this snapshot's 0755 root-owned stand-in over it.
// Returns the new directory's handle (O_PATH), opened from its parent's:
// the same as resolving `dir` from the root again, without walking every
// component and symlink of a deep path once more for each level made (a
// layer's deep tree would cost the square of its depth). Empty when
// something else stands there: the caller resolves it.
detail::ImplicitDir Applier::Impl::make_implicit_dir(const std::string& dir, const TarEntry& entry) {
  const CleanPath path = detail::clean_path(dir);
  const Parent made_in = dir_for(path.parent, entry, true);
  const int parent = made_in.fd;
  std::optional<detail::Found> lower;
  // Only a lower snapshot's directory counts: without any, the search
  // (which walks the name one prefix at a time) has nothing to find; nor
  // below a parent whose own search found nothing.
  const bool search = options_.mode == ApplyMode::snapshot && !options_.lower_dirs.empty() && !made_in.no_lower;
  if (search) lower = detail::find_in_layers(layer_stack(), path.full, true);
  const bool no_lower = made_in.no_lower || (search && !lower);
  if (lower && lower->layer > 0 && S_ISDIR(lower->st.st_mode)) {
    make_directory(parent, path, detail::describe_lower(*lower, path.full).entry);
  } else {
    if (::mkdirat(parent, path.base(), 0755) != 0) {
      if (errno == EEXIST) return {};  // a dangling symlink: the caller's openat2 says so
      throw core::errno_error(errno, "cannot create directory", entry.path);
    }
    FileHandle fd(::openat(parent, path.base(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw core::errno_error(errno, "cannot open directory", entry.path);
    detail::set_mode_fd(fd.get(), 0755, entry.path);  // not what the umask left
  }
  return {FileHandle(::openat(parent, path.base(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)), no_lower};
}

void Applier::Impl::finish() {
  lowers_ready(true);
  std::vector<std::pair<std::size_t, const std::pair<const std::string, DirRecord>*>> order;
  order.reserve(dir_records_.size());
  for (const auto& record : dir_records_) order.emplace_back(detail::path_depth(record.first), &record);
  // Deepest first: a parent's mode 000 or its mtime is set after everything
  // below it is done.
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [depth, record] : order) {
    const auto& [dir, want] = *record;
    const CleanPath path = detail::clean_path(dir);
    FileHandle fd;
    if (path.is_root()) {
      fd = detail::open_in_root(root_.get(), "", O_RDONLY | O_DIRECTORY).first;
    } else if (auto [parent, err] = detail::open_in_root(root_.get(), path.parent.c_str(), O_PATH | O_DIRECTORY); parent) {
      fd = FileHandle(::openat(parent.get(), path.base(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    // Gone, or another inode now: a later entry replaced the directory.
    if (!fd) continue;
    const struct stat st = core::stat_handle(fd.get(), dir);
    if (st.st_dev != want.dev || st.st_ino != want.ino) continue;
    detail::set_mode_fd(fd.get(), want.mode, dir);
    detail::set_times_fd(fd.get(), want.mtime_sec, want.mtime_nsec, dir);
  }
  dir_records_.clear();
}

}  // namespace gantry::unpack
