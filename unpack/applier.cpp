#include "unpack/applier.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/file_tree.hpp"
#include "unpack/detail/apply_attrs.hpp"
#include "unpack/detail/apply_impl.hpp"
#include "unpack/detail/apply_lower.hpp"
#include "unpack/detail/fs_path.hpp"
#include "unpack/detail/fs_resolve.hpp"

// Policy for hostile names, in one place:
//
// CONFINED, like umoci and containerd: names are cleaned lexically ("/",
// "./" and ".." that would climb above the root are dropped) and every
// resolution goes through openat2(RESOLVE_IN_ROOT), so "../../x", "/etc/x",
// a file below a symlink to "/" or "../..", chained symlinks, hardlink
// targets through symlinks and whiteouts below a symlinked directory all land
// inside the root (CVE-2014-9356, CVE-2018-15664, CVE-2021-32760,
// CVE-2025-47290, umoci GHSA-9m95-8hx6-7p9v). The final component is never
// followed: O_CREAT|O_EXCL|O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, linkat without
// AT_SYMLINK_FOLLOW.
//
// REFUSED, with the entry named: a non-directory named "", "." or "/" (it
// would replace the root, e.g. a symlink named "."), Error(unsafe_path); a
// whiteout of "." or ".." (".wh..", ".wh..."), Error(unsafe_path); a
// hardlink to a directory or to nothing, data that does not match the
// header's size, a parent that is not a directory, Error(bad_input).

namespace gantry::unpack {

namespace detail {

core::Error entry_error(core::ErrorKind kind, std::string_view message, const TarEntry& entry) {
  return core::Error(kind, message, core::ErrorContext{.path = entry.path});
}

}  // namespace detail

namespace {

using detail::CleanPath;
using detail::FileHandle;
using detail::Parent;

// The process umask, from /proc/self/status (reading it with umask(2) would
// change it for every thread for a moment); nullopt when unknown.
std::optional<mode_t> current_umask() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("Umask:")) return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
  }
  return std::nullopt;
}

bool same_inode(const struct stat& a, const struct stat& b) noexcept {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

Applier::Impl::Impl(const std::filesystem::path& root, ApplyOptions options) : options_(std::move(options)) {
  root_ = FileHandle(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_) throw core::errno_error(errno, "cannot open directory", root.string());
  std::error_code ec;
  root_path_ = std::filesystem::canonical(root, ec);
  if (ec) throw core::errno_error(ec.value(), "cannot resolve root", root.string());
  layers_.push_back(root_.get());
  lowers_open_ = options_.mode != ApplyMode::snapshot || options_.lower_dirs.empty();
  lowers_done_ = !options_.lowers_applied.valid();
  root_setgid_ = detail::is_setgid(core::stat_handle(root_.get(), root.string()));
  euid_ = ::geteuid();
  egid_ = ::getegid();
  may_make_devices_ = euid_ == 0;
  umask_ = current_umask();
}

std::span<const int> Applier::Impl::layer_stack() {
  if (!lowers_open_) {
    if (options_.await_lowers) options_.await_lowers();
    for (const auto& lower : options_.lower_dirs) {
      FileHandle fd(::open(lower.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!fd) throw core::errno_error(errno, "cannot open lower snapshot", lower.string());
      lowers_.push_back(std::move(fd));
      layers_.push_back(lowers_.back().get());
    }
    lowers_open_ = true;
  }
  return layers_;
}

void Applier::Impl::apply(const TarEntry& entry, EntryData& data) {
  ++stats_.entries;
  if (!lowers_ready(false) && stage(entry, data)) return;
  lowers_ready(true);
  apply_entry(entry, data);
}

void Applier::Impl::apply_entry(const TarEntry& entry, EntryData& data) {
  if (dirs_stale_ || dirs_.size() > detail::kMaxCachedDirs) {
    dirs_.clear();
    dirs_stale_ = false;
  }
  const CleanPath path = detail::clean_path(entry.path);
  if (!path.is_root() && detail::is_whiteout_name(path.base_view())) {
    apply_whiteout(path, entry);
    return;
  }
  detail::check_attributes(entry);
  if (path.is_root()) {
    // "./" replaces the root's attributes, as umoci does; anything else
    // named like the root (a symlink named ".") would replace the root.
    if (entry.type != EntryType::directory) {
      throw detail::entry_error(core::ErrorKind::unsafe_path, "entry would replace the root directory", entry);
    }
    auto [fd, err] = detail::open_in_root(root_.get(), "", O_RDONLY | O_DIRECTORY);
    if (!fd) throw core::errno_error(err, "cannot open root", entry.path);
    update_directory(fd.get(), path.full, entry);
    return;
  }
  if (create(dir_for(path.parent, entry, true), path, entry, data)) created_.insert(path.full);
}

bool Applier::Impl::create(Parent parent, const CleanPath& path, const TarEntry& entry, EntryData& data) {
  switch (entry.type) {
    case EntryType::regular: write_file(parent, path, entry, data); break;
    case EntryType::directory: make_directory(parent.fd, path, entry); break;
    case EntryType::symlink: make_symlink(parent, path, entry); break;
    case EntryType::hardlink: make_hardlink(parent.fd, path, entry); break;
    case EntryType::char_device:
    case EntryType::block_device:
      // mknod(2) of a device needs CAP_MKNOD; unprivileged unpackers (umoci
      // --rootless) skip devices too.
      if (!may_make_devices_) {
        ++stats_.devices_skipped;
        return false;
      }
      make_node(parent, path, entry);
      break;
    case EntryType::fifo: make_node(parent, path, entry); break;
  }
  return true;
}

// Removes what stands at a name so that an entry can be created fresh: a
// type change, and also file over file, never writes through the existing
// inode, which may be shared by a hardlink with another path or a lower layer.
void Applier::Impl::remove_existing(int parent, const char* name, const TarEntry& entry) {
  if (core::remove_tree_at(parent, name, entry.path)) dirs_stale_ = true;
}

template <class Create>
int Applier::Impl::create_replacing(int parent, const CleanPath& path, const TarEntry& entry, std::string_view what,
                                    Create create) {
  int rc = create();
  if (rc < 0 && errno == EEXIST) {
    remove_existing(parent, path.base(), entry);
    rc = create();
  }
  if (rc < 0) throw core::errno_error(errno, what, entry.path);
  return rc;
}

// Whether the owner must be set: files are born with the caller's uid and
// gid (the directory's gid below a setgid directory). Most image files
// belong to root, so a root caller saves a chown(2) per file.
bool Applier::Impl::needs_owner(const TarEntry& entry, Parent parent) const noexcept {
  return options_.preserve_owners &&
         (entry.uid != static_cast<std::int64_t>(euid_) || entry.gid != static_cast<std::int64_t>(egid_) || parent.setgid);
}

void Applier::Impl::write_file(Parent parent, const CleanPath& path, const TarEntry& entry, EntryData& data) {
  if (const auto* staged = dynamic_cast<const detail::StagedFile*>(&data)) {
    place_staged(parent.fd, path, entry, *staged);
    return;
  }
  // Born with its final permissions when the umask keeps them all and there
  // is no setuid, setgid or sticky bit (which the write or chown(2) below
  // could clear), else created private and fchmod-ed after content and
  // owner: either way no link is involved (O_CREAT|O_EXCL|O_NOFOLLOW), and
  // most files need one syscall less.
  const mode_t perms = entry.mode & 07777;
  const bool mode_at_create = umask_ && (perms & 07000) == 0 && (perms & *umask_) == 0;
  FileHandle fd(create_replacing(parent.fd, path, entry, "cannot create file", [&] {
    return ::openat(parent.fd, path.base(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode_at_create ? perms : 0600);
  }));
  const std::int64_t written = write_data(fd.get(), entry, data);
  // Mode after content and owner (chown(2) clears setuid/setgid), xattrs
  // after owner (it clears security.capability), times last.
  if (needs_owner(entry, parent)) detail::set_owner_fd(fd.get(), entry);
  if (!mode_at_create) detail::set_mode_fd(fd.get(), entry.mode, entry.path);
  stats_.xattrs_skipped += detail::set_xattrs_fd(fd.get(), entry.xattrs, entry.path);
  detail::set_times_fd(fd.get(), entry.mtime_sec, entry.mtime_nsec, entry.path);
  ++stats_.files;
  stats_.bytes += written;
}

// A staged file (apply_staged.cpp) goes into place the way write_file()
// creates one: never over an existing name, which is removed first.
void Applier::Impl::place_staged(int parent, const CleanPath& path, const TarEntry& entry,
                                 const detail::StagedFile& staged) {
  create_replacing(parent, path, entry, "cannot move staged file into place", [&] {
    int rc = ::renameat2(staged.dir_fd(), staged.name(), parent, path.base(), RENAME_NOREPLACE);
    if (rc == 0 || errno != EINVAL) return rc;
    // A filesystem without RENAME_NOREPLACE: a link fails alike on an existing name.
    rc = ::linkat(staged.dir_fd(), staged.name(), parent, path.base(), 0);
    if (rc == 0) (void)::unlinkat(staged.dir_fd(), staged.name(), 0);
    return rc;
  });
}

// Blocks at increasing offsets within the size, the last one ending at the
// size (tar_entry.hpp): anything else means the data does not match the
// header, Error(bad_input). Holes are left unwritten and the size set last.
std::int64_t Applier::Impl::write_data(int fd, const TarEntry& entry, EntryData& data) {
  // The map's segments are known before its data: refuse one that could
  // never fit (ApplyOptions::max_disk_bytes) before writing any of it.
  if (entry.sparse_segments > 0) charge_disk(entry, 0, entry.sparse_segments * detail::kDiskBlock);
  std::int64_t end = 0;       // of the last block, empty ones included
  std::int64_t data_end = 0;  // of the last byte written
  std::int64_t written = 0;
  std::int64_t offset = 0;
  std::span<const std::byte> bytes;
  while (data.next(offset, bytes)) {
    const auto size = static_cast<std::int64_t>(bytes.size());
    if (offset < end || offset > entry.size || size > entry.size - offset) {
      throw detail::entry_error(core::ErrorKind::bad_input, "file data does not fit the size in the header", entry);
    }
    if (size > 0) {
      charge_disk(entry, offset > data_end ? size + detail::kDiskBlock : size, 0);
      core::write_all_at(fd, bytes.data(), bytes.size(), offset, entry.path);
      data_end = offset + size;
    }
    written += size;
    end = offset + size;
  }
  if (end != entry.size) {
    throw detail::entry_error(core::ErrorKind::bad_input,
                      "file data ends at " + std::to_string(end) + " bytes, the header says " +
                          std::to_string(entry.size),
                      entry);
  }
  if (data_end < entry.size && ::ftruncate(fd, entry.size) != 0) {
    throw core::errno_error(errno, "cannot set file size", entry.path);
  }
  return written;
}

// ApplyOptions::max_disk_bytes: `bytes` more written, `ahead` about to be.
void Applier::Impl::charge_disk(const TarEntry& entry, std::int64_t bytes, std::int64_t ahead) {
  const std::int64_t limit = options_.max_disk_bytes;
  if (limit <= 0) return;
  if (bytes > limit - disk_bytes_ || ahead > limit - disk_bytes_ - bytes) {
    throw detail::entry_error(core::ErrorKind::bad_input,
                              "layer makes more than the limit of " + std::to_string(limit) +
                                  " bytes on disk (a sparse file's segments count a 4 KiB block each)",
                              entry);
  }
  disk_bytes_ += bytes;
}

void Applier::Impl::make_symlink(Parent parent, const CleanPath& path, const TarEntry& entry) {
  // The target is stored verbatim, absolute, relative or dangling: it is
  // only ever resolved later, inside the root.
  if (entry.link_target.find('\0') != std::string::npos) {
    throw detail::entry_error(core::ErrorKind::bad_input, "symlink target holds a NUL byte", entry);
  }
  create_replacing(parent.fd, path, entry, "cannot create symlink",
                   [&] { return ::symlinkat(entry.link_target.c_str(), parent.fd, path.base()); });
  node_attributes(parent, path, entry, false);
}

void Applier::Impl::make_node(Parent parent, const CleanPath& path, const TarEntry& entry) {
  mode_t type = S_IFIFO;
  dev_t dev = 0;
  if (entry.type != EntryType::fifo) {
    type = entry.type == EntryType::char_device ? S_IFCHR : S_IFBLK;
    dev = makedev(entry.dev_major, entry.dev_minor);
  }
  create_replacing(parent.fd, path, entry, "cannot create device or fifo",
                   [&] { return ::mknodat(parent.fd, path.base(), type | 0600, dev); });
  node_attributes(parent, path, entry, true);
}

// Symlinks, devices and fifos: by name, never opened, never followed.
void Applier::Impl::node_attributes(Parent parent, const CleanPath& path, const TarEntry& entry, bool has_mode) {
  if (needs_owner(entry, parent)) detail::set_owner_at(parent.fd, path.base(), entry);
  if (has_mode) detail::set_mode_at(parent.fd, path.base(), entry.mode, entry.path);
  if (!entry.xattrs.empty()) {
    // Without a plain path there is no safe lsetxattr (the /proc/self/fd
    // route is a magic link): the xattrs are skipped.
    auto plain = plain_path(parent.fd, path);
    stats_.xattrs_skipped += plain ? detail::set_xattrs_path(*plain, entry.xattrs, entry.path)
                                   : static_cast<std::int64_t>(entry.xattrs.size());
  }
  detail::set_times_at(parent.fd, path.base(), entry.mtime_sec, entry.mtime_nsec, entry.path);
}

// A string path to the entry that the kernel resolves without any symlink:
// the root's canonical path plus the cleaned name, valid only when the
// parent resolves under RESOLVE_NO_SYMLINKS to the very directory `parent`.
std::optional<std::string> Applier::Impl::plain_path(int parent, const CleanPath& path) {
  auto [fd, err] = detail::open_in_root(root_.get(), path.parent.c_str(), O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
  if (!fd) return std::nullopt;
  if (!same_inode(core::stat_handle(fd.get(), path.parent), core::stat_handle(parent, path.parent))) {
    return std::nullopt;
  }
  return (root_path_ / path.full).string();
}

void Applier::Impl::make_hardlink(int parent, const CleanPath& path, const TarEntry& entry) {
  const CleanPath target = detail::clean_path(entry.link_target);
  if (target.is_root()) throw detail::entry_error(core::ErrorKind::bad_input, "hardlink to the root directory", entry);
  const detail::Found found = link_target(target, entry);
  // linkat without AT_SYMLINK_FOLLOW: a symlink target is linked itself,
  // never the file it points to.
  auto link = [&] { return ::linkat(found.parent.get(), found.base.c_str(), parent, path.base(), 0); };
  if (link() == 0) return;
  if (errno != EEXIST) throw core::errno_error(errno, "cannot create hardlink", entry.path);
  struct stat st {};
  if (::fstatat(parent, path.base(), &st, AT_SYMLINK_NOFOLLOW) == 0 && same_inode(st, found.st)) return;
  remove_existing(parent, path.base(), entry);
  if (link() != 0) {
    if (errno == ENOENT) throw detail::entry_error(core::ErrorKind::bad_input, "hardlink target removed by the entry itself", entry);
    throw core::errno_error(errno, "cannot create hardlink", entry.path);
  }
}

// The target, resolved in the root with the same confinement as any name.
// In snapshot mode a target of a lower snapshot is first copied up into this
// one (a hardlink cannot cross directories of different snapshots).
detail::Found Applier::Impl::link_target(const CleanPath& target, const TarEntry& entry) {
  const bool overlay = options_.mode == ApplyMode::snapshot;
  // This layer first: most hardlinks are to files of their own layer, which
  // need not wait for the lower snapshots.
  auto found = detail::find_in_layers(std::span(layers_).first(1), target.full, overlay);
  if (!found) found = detail::find_in_layers(layer_stack(), target.full, overlay);
  if (!found) throw detail::entry_error(core::ErrorKind::bad_input, "hardlink target not found: " + entry.link_target, entry);
  if (S_ISDIR(found->st.st_mode)) {
    throw detail::entry_error(core::ErrorKind::bad_input, "hardlink to a directory: " + entry.link_target, entry);
  }
  if (found->layer == 0) return std::move(*found);
  detail::LowerFile lower = detail::describe_lower(*found, target.full);
  detail::FileData data(lower.file.get(), lower.entry.size, copy_buffer_, target.full);
  // Not recorded as created: the copy stands for the lower file, which a
  // whiteout of this layer still deletes.
  (void)create(dir_for(target.parent, entry, true), target, lower.entry, data);
  found = detail::find_in_layers(std::span(layers_).first(1), target.full, overlay);
  if (!found) throw detail::entry_error(core::ErrorKind::io, "copied-up hardlink target vanished", entry);
  return std::move(*found);
}

Applier::Applier(const std::filesystem::path& root, ApplyOptions options)
    : impl_(std::make_unique<Impl>(root, std::move(options))) {}

Applier::~Applier() = default;

namespace {

// A write the filesystem refused (a full disk, EIO) is the host's trouble,
// not the image's: its error names the host path, so that whoever reads it
// knows which filesystem to look at. Errors of other kinds keep the path
// inside the image, where their cause is.
template <class Step>
void with_host_paths(const std::filesystem::path& root, Step step) {
  try {
    step();
  } catch (const core::Error& e) {
    if (e.kind() != core::ErrorKind::io || e.context().path.empty() || e.context().path.starts_with('/')) throw;
    core::ErrorContext context = e.context();
    context.path = (root / context.path).string();
    throw core::Error(e.kind(), e.message(), std::move(context));
  }
}

}  // namespace

void Applier::apply(const TarEntry& entry, EntryData& data) {
  with_host_paths(impl_->root_path_, [&] { impl_->apply(entry, data); });
}

void Applier::finish() {
  with_host_paths(impl_->root_path_, [&] { impl_->finish(); });
}

const ApplyStats& Applier::stats() const noexcept { return impl_->stats_; }

}  // namespace gantry::unpack
