#pragma once
// Looking a name up in a stack of layer directories the way overlayfs will
// see them merged, and reading what is found there back as a tar entry, for
// the copy-up of a hardlink target that lives in a lower snapshot (the
// snapshot must hold its own inode to link to, as containerd's overlay
// snapshotter gets from overlayfs's own copy-up).

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/detail/fs_resolve.hpp"
#include "unpack/tar_entry.hpp"

namespace gantry::unpack::detail {

// overlayfs's whiteout: a character device 0/0 (Documentation/filesystems/overlayfs.rst).
[[nodiscard]] bool is_whiteout(const struct stat& st) noexcept;

// Sets trusted.overlay.opaque=y on an open directory. Throws Error(io).
void mark_opaque(int dir_fd, std::string_view what);

struct Found {
  FileHandle parent;  // the directory that holds it, in layers[layer]
  std::string base;
  struct stat st {};
  std::size_t layer = 0;
};

// Finds a cleaned, non-empty name in `layers` (directory handles, top
// first), each resolved on its own with RESOLVE_IN_ROOT: a symlink in a
// layer stays inside that layer. With `overlay`, overlayfs's rules hide
// names: a whiteout ends the search, so does a non-directory where a
// directory is needed, and an opaque directory hides the layers below it.
// nullopt when the name does not exist. Throws Error(io).
[[nodiscard]] std::optional<Found> find_in_layers(std::span<const int> layers, const std::string& name, bool overlay);

// A found file as an entry to apply elsewhere: type, mode, owner, mtime,
// xattrs (not overlayfs's own), symlink target, device numbers; `file` is
// open for reading when it is a regular file or a directory. Throws
// Error(unsupported) for a socket.
struct LowerFile {
  TarEntry entry;
  FileHandle file;
};
[[nodiscard]] LowerFile describe_lower(const Found& found, std::string path);

// The data of an open regular file in the blocks EntryData promises: holes
// are skipped (SEEK_DATA/SEEK_HOLE), and an empty block at the size closes
// it. `buffer` is the caller's, reused across files.
class FileData final : public EntryData {
 public:
  FileData(int fd, std::int64_t size, std::vector<std::byte>& buffer, std::string_view what)
      : fd_(fd), size_(size), buffer_(buffer), what_(what) {}
  bool next(std::int64_t& offset, std::span<const std::byte>& bytes) override;

 private:
  int fd_;
  std::int64_t size_;
  std::vector<std::byte>& buffer_;
  std::string_view what_;
  std::int64_t pos_ = 0;
  bool done_ = false;
};

}  // namespace gantry::unpack::detail
