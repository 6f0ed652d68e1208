#pragma once
// One entry of a layer tar as the tar reader hands it to the applier: the
// facts of the header, untrusted and unnormalised, plus a source of its data.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gantry::unpack {

enum class EntryType { regular, directory, symlink, hardlink, char_device, block_device, fifo };

struct Xattr {
  std::string name;   // "security.capability", "user.x", ...
  std::string value;  // binary
};

struct TarEntry {
  EntryType type = EntryType::regular;
  std::string path;         // as in the archive: may hold "..", a leading "/", non-UTF-8 bytes
  std::string link_target;  // symlink target, or the path a hardlink names (archive-relative)
  std::uint32_t mode = 0;   // permission bits incl. setuid/setgid/sticky (07777)
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t size = 0;  // regular files: the file's size (holes of sparse files included)
  std::int64_t sparse_segments = 0;  // regular files: entries of the sparse map (0: not sparse)
  std::int64_t mtime_sec = 0;
  std::int64_t mtime_nsec = 0;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::vector<Xattr> xattrs{};
};

// The data of a regular file, in blocks at increasing, non-overlapping
// offsets within [0, size) (a sparse file leaves holes between them). The
// last block ends exactly at the entry's size: a sparse file whose tail is a
// hole ends with an empty block at offset `size` (libarchive's end-of-data
// offset); the applier refuses data that ends anywhere else, as Error(bad_input).
// Only valid while its entry is being applied; the applier leaves the data of
// other entry types (and of whiteouts) unread, the reader skips it.
class EntryData {
 public:
  virtual ~EntryData() = default;
  // The next block, or false at the end of the entry's data. `bytes` stays
  // valid until the next call.
  virtual bool next(std::int64_t& offset, std::span<const std::byte>& bytes) = 0;
};

}  // namespace gantry::unpack
