#pragma once
// The secure layer applier: tar entries become files under a root directory,
// with OCI layer semantics (image-spec layer.md) and no way out of the root.
//
// Every path is resolved from the root's directory handle with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): "..", absolute names and
// symlinks (of this or a lower layer) are confined to the root, as umoci's
// and containerd's appliers confine them (CVE-2018-15664, CVE-2021-32760):
// such entries are applied inside the root, not refused. Refused, naming the
// entry: a non-directory named like the root ("", ".", "/", e.g. a symlink
// named "."), a whiteout of "." or ".." (Error(unsafe_path)); a hardlink to a
// directory or to nothing, a parent that is not a directory or a dangling
// symlink (Error(bad_input)). applier.cpp holds the whole policy.
// Owner, mode, times and xattrs are never applied through a link; a type
// change removes and recreates, never writes through an existing inode.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <vector>

#include "unpack/tar_entry.hpp"

namespace gantry::unpack {

enum class ApplyMode {
  // One layer on top of the lower ones already in the root: `.wh.NAME`
  // removes NAME, `.wh..wh..opq` empties the directory of what lower layers
  // put there. Used for a flattened rootfs (`gantry unpack`).
  flatten,
  // One layer into its own empty snapshot directory, whiteouts kept in
  // overlayfs form (a 0/0 character device for `.wh.NAME`, the xattr
  // trusted.overlay.opaque=y for an opaque directory), for stacking with
  // overlayfs (`gantry run`).
  snapshot,
};

// ApplyOptions::staging_dir: the most bytes of entry headers (names, link
// targets, xattrs) kept while the lower layers apply.
inline constexpr std::size_t kMaxStagedBytes = std::size_t{16} << 20;

struct ApplyOptions {
  ApplyMode mode = ApplyMode::flatten;
  // Apply uid/gid from the tar (needs CAP_CHOWN); otherwise files belong to
  // the caller. Devices are only created when running as root.
  bool preserve_owners = true;
  // snapshot mode: the lower snapshots, top first, where a hardlink to a
  // file of a lower layer finds its target (it is copied up, then linked)
  // and a parent directory the tar does not list finds its attributes.
  // Names are resolved inside each snapshot on its own: a symlink of a lower
  // snapshot is not followed by names of this one (image builders list real
  // paths; a hostile name stays confined either way).
  std::vector<std::filesystem::path> lower_dirs{};
  // snapshot mode: called once, before the first look into lower_dirs, so
  // that snapshots of several layers can be built at once: a layer waits
  // for its lower ones only when an entry needs them (a hardlink to a file
  // it does not hold, a parent it does not list). May throw (a lower layer
  // failed); the entry then fails with that error.
  std::function<void()> await_lowers{};
  // flatten mode: ready once the layers below are applied (or holding the
  // error that stopped them), for a rootfs whose layers apply in order. An
  // entry is applied only after that; without `staging_dir` apply() waits
  // for it. With one (a directory to be made, on the root's filesystem),
  // entries that come before the lower layers are done are staged instead:
  // a regular file is written there whole (data, owner, mode, xattrs,
  // times) and every entry's header is kept, in order, so that the slow
  // part of the layer overlaps the layers below. Once they are done, the
  // headers are applied as if they came then, a staged file being renamed
  // into place instead of written, so the tree is exactly the one applying
  // in order gives. The headers kept are bounded (kMaxStagedBytes): past
  // that, apply() waits. Only with preserve_owners (a staged file's group
  // must not depend on the directory it is born in).
  std::shared_future<void> lowers_applied{};
  std::filesystem::path staging_dir{};
  // What the layer may make on disk, in bytes (0: no limit), the bound of
  // --max-layer-size beside the pipeline's on decoded bytes. A sparse map
  // makes blocks the tar does not carry: 200,000 one-byte segments 8 KiB
  // apart are 2.6 MB of tar and 819 MB on disk. So file data counts its
  // bytes, and every segment after a hole a 4 KiB block more (a filesystem
  // block it at most rounds up to); holes count nothing, so a 1 TiB file of
  // holes stays cheap. A map whose segments alone would exceed what is
  // left is refused before any of its data is written. Error(bad_input)
  // naming the entry.
  std::int64_t max_disk_bytes = 0;
};

struct ApplyStats {
  std::int64_t entries = 0;
  std::int64_t files = 0;  // regular files written (copy-ups included)
  std::int64_t bytes = 0;  // file data written
  std::int64_t whiteouts = 0;
  // Character and block devices not created: mknod(2) needs root.
  std::int64_t devices_skipped = 0;
  // Extended attributes not set: the filesystem does not support them
  // (ENOTSUP), "user." ones on a symlink, device or fifo (Linux allows them
  // on files and directories only), and the overlayfs-private
  // "trusted.overlay." ones an image must not set.
  std::int64_t xattrs_skipped = 0;
};

class Applier {
 public:
  // `root` must be an existing directory. Throws Error(io).
  Applier(const std::filesystem::path& root, ApplyOptions options);
  ~Applier();
  Applier(const Applier&) = delete;
  Applier& operator=(const Applier&) = delete;

  // Applies one entry, reading a regular file's data from `data`. Throws
  // Error(unsafe_path) for an entry that cannot be applied inside the root
  // (e.g. a hardlink whose target resolves outside), Error(bad_input) for a
  // malformed one (data size differs from the header's), Error(io).
  void apply(const TarEntry& entry, EntryData& data);

  // After the last entry (with `lowers_applied`, once the lower layers and
  // then the staged entries are applied): directory modes and mtimes (a
  // directory with mode 000 gets its content first, its mode last), since
  // creating entries in a directory changes its mtime.
  void finish();

  [[nodiscard]] const ApplyStats& stats() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry::unpack
