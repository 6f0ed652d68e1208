// Entries of a flattened layer that come while the layers below it are still
// applying (ApplyOptions::staging_dir). A flattened rootfs applies its layers
// in order, so an upper layer used to wait with a full queue while the one
// below applied, and its decoding, hashing and file writing all came after.
// Staged, the costly part of a file (its data and attributes) is done at
// once, beside the root; what depends on the layers below (where the file
// goes, what it replaces, whiteouts, hardlinks, directories) waits for them
// and is applied in the layer's order by the same code as any entry, with a
// rename in place of the write. So the tree is the one the serial order
// gives, hardlink groups and directory attributes included.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <string>

#include "core/error.hpp"
#include "core/file_tree.hpp"
#include "unpack/detail/apply_attrs.hpp"
#include "unpack/detail/apply_impl.hpp"
#include "unpack/detail/fs_path.hpp"

namespace gantry::unpack {

namespace {

// What an entry kept costs in memory, against kMaxStagedBytes.
std::size_t kept_bytes(const TarEntry& entry) {
  std::size_t bytes = sizeof(detail::StagedEntry) + entry.path.size() + entry.link_target.size();
  for (const Xattr& x : entry.xattrs) bytes += sizeof(Xattr) + x.name.size() + x.value.size();
  return bytes;
}

// The data of an entry that is not a regular file: none.
class NoData final : public EntryData {
 public:
  bool next(std::int64_t&, std::span<const std::byte>&) override { return false; }
};

}  // namespace

bool Applier::Impl::lowers_ready(bool wait) {
  if (lowers_done_) return true;
  const std::shared_future<void>& lowers = options_.lowers_applied;
  if (!wait && lowers.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
  lowers.get();
  lowers_done_ = true;
  replay_staged();
  return true;
}

bool Applier::Impl::stage(const TarEntry& entry, EntryData& data) {
  if (options_.staging_dir.empty() || !options_.preserve_owners) return false;
  const std::size_t bytes = kept_bytes(entry);
  if (bytes > kMaxStagedBytes - staged_bytes_) return false;
  if (!staging_) {
    const std::filesystem::path& dir = options_.staging_dir;
    if (::mkdir(dir.c_str(), 0700) != 0) throw core::errno_error(errno, "cannot create staging directory", dir.string());
    staging_ = detail::FileHandle(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!staging_) throw core::errno_error(errno, "cannot open staging directory", dir.string());
    staging_setgid_ = detail::is_setgid(core::stat_handle(staging_.get(), dir.string()));
  }
  detail::StagedEntry kept{.entry = entry, .file = {}};
  const detail::CleanPath path = detail::clean_path(entry.path);
  // Only what apply_entry() would write as a file: not a whiteout, not the root.
  if (entry.type == EntryType::regular && !path.is_root() && !detail::is_whiteout_name(path.base_view())) {
    detail::check_attributes(entry);
    kept.file = std::to_string(staged_.size());
    write_file(detail::Parent{.fd = staging_.get(), .setgid = staging_setgid_}, detail::clean_path(kept.file), entry,
               data);
  }
  staged_bytes_ += bytes;
  staged_.push_back(std::move(kept));
  return true;
}

void Applier::Impl::replay_staged() {
  NoData none;
  for (detail::StagedEntry& kept : staged_) {
    if (kept.file.empty()) {
      apply_entry(kept.entry, none);
    } else {
      detail::StagedFile file(staging_.get(), std::move(kept.file));
      apply_entry(kept.entry, file);
    }
  }
  staged_ = {};
  staged_bytes_ = 0;
}

}  // namespace gantry::unpack
