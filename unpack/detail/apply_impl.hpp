#pragma once
// The applier's state, shared by its files: applier.cpp (entries),
// apply_dirs.cpp (directory handles, implicit parents, directory attributes
// at the end), apply_whiteout.cpp (whiteouts and opaque directories) and
// apply_staged.cpp (entries kept while the lower layers apply).

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "unpack/applier.hpp"
#include "unpack/detail/apply_lower.hpp"
#include "unpack/detail/fs_path.hpp"
#include "unpack/detail/fs_resolve.hpp"

namespace gantry::unpack::detail {

// Parent handles kept between entries; a layer walks its directories mostly
// in order, so a few hundred cover a tree's working set.
constexpr std::size_t kMaxCachedDirs = 256;

// The filesystem block a sparse segment at most rounds up to, for
// ApplyOptions::max_disk_bytes (ext4, xfs, tmpfs: 4 KiB on x86-64).
constexpr std::int64_t kDiskBlock = 4096;

// A directory handle an entry is created in. `setgid`: new files there take
// the directory's group, not the creator's, so their owner must be set.
// `no_lower`: known to have no counterpart in a lower snapshot (an implicit
// parent whose search found none): nothing below it can have one either, so
// its implicit children skip the search (a deep tree's implicit parents
// would each walk the whole name again).
struct Parent {
  int fd = -1;
  bool setgid = false;
  bool no_lower = false;
};

struct CachedDir {
  FileHandle fd;
  bool setgid = false;
  bool no_lower = false;
};

// A directory made because the tar does not list it (Applier::Impl::make_implicit_dir).
struct ImplicitDir {
  FileHandle fd;  // empty when something else stands there
  bool no_lower = false;
};

[[nodiscard]] inline bool is_setgid(const struct stat& st) noexcept { return (st.st_mode & S_ISGID) != 0; }

// A directory's mode and mtime wait for finish(): content first, so that a
// mode-000 directory still takes its files and later creations do not move
// the mtime. The inode says which directory: a later entry may replace it.
struct DirRecord {
  std::uint32_t mode = 0;
  std::int64_t mtime_sec = 0;
  std::int64_t mtime_nsec = 0;
  dev_t dev = 0;
  ino_t ino = 0;
};

// A regular file staged while the lower layers apply (ApplyOptions::
// staging_dir): written whole already, so write_file() renames it into place
// and reads no data.
class StagedFile final : public EntryData {
 public:
  StagedFile(int dir_fd, std::string name) : dir_fd_(dir_fd), name_(std::move(name)) {}
  bool next(std::int64_t&, std::span<const std::byte>&) override { return false; }
  [[nodiscard]] int dir_fd() const noexcept { return dir_fd_; }
  [[nodiscard]] const char* name() const noexcept { return name_.c_str(); }

 private:
  int dir_fd_;
  std::string name_;
};

// An entry kept while the lower layers apply; `file` names its staged data.
struct StagedEntry {
  TarEntry entry;
  std::string file;  // empty but for a regular file
};

// Error(kind) with the entry's name as the path.
[[nodiscard]] core::Error entry_error(core::ErrorKind kind, std::string_view message, const TarEntry& entry);

// Error for a parent directory openat2 could not walk (errno `err`).
[[nodiscard]] core::Error parent_error(int err, const TarEntry& entry);

// image-spec layer.md, "Whiteouts": true for every name behind `.wh.`.
[[nodiscard]] bool is_whiteout_name(std::string_view base) noexcept;

}  // namespace gantry::unpack::detail

namespace gantry::unpack {

struct Applier::Impl {
  Impl(const std::filesystem::path& root, ApplyOptions options);

  void apply(const TarEntry& entry, EntryData& data);
  void apply_entry(const TarEntry& entry, EntryData& data);
  void finish();

  // Staging (apply_staged.cpp): whether the lower layers are applied, and
  // if so the staged entries too; with `wait`, waits for them. Rethrows a
  // lower layer's failure.
  bool lowers_ready(bool wait);
  // Keeps the entry (and writes a regular file's data) in the staging
  // directory; false when it cannot (none, or the headers' bound reached).
  bool stage(const TarEntry& entry, EntryData& data);
  void replay_staged();

  // Creating one entry at `parent`/`path.base()`; false when skipped.
  bool create(detail::Parent parent, const detail::CleanPath& path, const TarEntry& entry, EntryData& data);
  void write_file(detail::Parent parent, const detail::CleanPath& path, const TarEntry& entry, EntryData& data);
  void place_staged(int parent, const detail::CleanPath& path, const TarEntry& entry, const detail::StagedFile& staged);
  std::int64_t write_data(int fd, const TarEntry& entry, EntryData& data);
  void make_directory(int parent, const detail::CleanPath& path, const TarEntry& entry);
  struct stat update_directory(int fd, const std::string& path, const TarEntry& entry);
  void make_symlink(detail::Parent parent, const detail::CleanPath& path, const TarEntry& entry);
  void make_node(detail::Parent parent, const detail::CleanPath& path, const TarEntry& entry);
  void make_hardlink(int parent, const detail::CleanPath& path, const TarEntry& entry);
  detail::Found link_target(const detail::CleanPath& target, const TarEntry& entry);
  void node_attributes(detail::Parent parent, const detail::CleanPath& path, const TarEntry& entry, bool has_mode);
  bool needs_owner(const TarEntry& entry, detail::Parent parent) const noexcept;
  std::optional<std::string> plain_path(int parent, const detail::CleanPath& path);
  template <class Create>
  int create_replacing(int parent, const detail::CleanPath& path, const TarEntry& entry, std::string_view what,
                       Create create);
  void remove_existing(int parent, const char* name, const TarEntry& entry);

  // Directory handles.
  detail::Parent dir_for(const std::string& dir, const TarEntry& entry, bool make_missing);
  [[nodiscard]] detail::ImplicitDir make_implicit_dir(const std::string& dir, const TarEntry& entry);

  // Whiteouts.
  void apply_whiteout(const detail::CleanPath& path, const TarEntry& entry);
  void prune_lower(int dir_fd, const std::string& dir, const TarEntry& entry);

  ApplyOptions options_;
  std::filesystem::path root_path_;  // canonical: no symlink in it
  detail::FileHandle root_;
  // root_ then, once a look into them is needed (opened by layer_stack()),
  // the lower snapshots: the stack a hardlink target is looked up in.
  [[nodiscard]] std::span<const int> layer_stack();
  std::vector<detail::FileHandle> lowers_;
  std::vector<int> layers_;
  bool lowers_open_ = false;
  bool may_make_devices_ = false;
  bool root_setgid_ = false;
  uid_t euid_ = 0;
  gid_t egid_ = 0;
  std::optional<mode_t> umask_;

  // Parent directory handles by cleaned path. Entries are only dropped at the
  // start of apply(), so a handle borrowed during one entry stays open;
  // `dirs_stale_` is set by any removal, which may have taken a cached
  // directory or a symlink a cached path went through.
  std::unordered_map<std::string, detail::CachedDir> dirs_;
  bool dirs_stale_ = false;

  // Every path this layer's entries created, with its ancestors (like
  // containerd's unpackedPaths): whiteouts apply to lower layers only.
  detail::PathTree created_;
  std::unordered_map<std::string, detail::DirRecord> dir_records_;
  std::vector<std::byte> copy_buffer_;
  // Against options_.max_disk_bytes: what this layer has written.
  void charge_disk(const TarEntry& entry, std::int64_t bytes, std::int64_t ahead);
  std::int64_t disk_bytes_ = 0;
  ApplyStats stats_;

  // Staging, while options_.lowers_applied is not ready.
  bool lowers_done_ = false;
  detail::FileHandle staging_;
  bool staging_setgid_ = false;
  std::vector<detail::StagedEntry> staged_;
  std::size_t staged_bytes_ = 0;
};

}  // namespace gantry::unpack
