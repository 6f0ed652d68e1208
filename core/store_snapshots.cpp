// The snapshot half of ContentStore: unpacked layers by chain ID.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/detail/file_lock.hpp"
#include "core/detail/file_publish.hpp"
#include "core/detail/store_layout.hpp"
#include "core/detail/unsynced_mark.hpp"
#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "core/file_tree.hpp"
#include "core/store.hpp"

namespace gantry::core {

namespace {

namespace fs = std::filesystem;
using detail::FileLock;

void sync_filesystem(int fd, const fs::path& path) {
  if (::syncfs(fd) != 0) throw errno_error(errno, "cannot sync", path.string());
}

// Present for readers: a directory, made durable or written in this boot.
bool trusted_snapshot(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  const auto mark = detail::unsynced_mark(dir);
  return !mark || mark->this_boot();
}

class DirSnapshotWriter final : public SnapshotWriter {
 public:
  DirSnapshotWriter(FileLock lock, fs::path staging, fs::path target)
      : lock_(std::move(lock)), staging_(std::move(staging)), target_(std::move(target)) {}

  ~DirSnapshotWriter() override {
    if (committed_) return;
    try {
      remove_tree(staging_);
      lock_.remove_and_release();
    } catch (const Error&) {
      // What stays is a staging directory, which the next builder removes.
    }
  }

  [[nodiscard]] const fs::path& dir() const override { return staging_; }

  void commit() override {
    if (committed_) throw std::logic_error("snapshot committed twice");
    // In place at once, marked as written in this boot and not yet on disk
    // (detail/unsynced_mark.hpp): a syncfs here would flush every dirty
    // page of the filesystem, other layers' too, on the image's critical
    // path. Where the mark cannot be set, one syncfs instead of an fsync
    // per file puts the files on disk before the name says complete.
    FileHandle dir = open_file(staging_, O_RDONLY | O_DIRECTORY);
    detail::make_directory(target_.parent_path());
    if (detail::set_unsynced_mark(dir.get(), staging_)) {
      detail::rename_file(staging_, target_);
    } else {
      sync_filesystem(dir.get(), staging_);
      detail::rename_durably(staging_, target_);
    }
    committed_ = true;
    lock_.remove_and_release();
  }

 private:
  FileLock lock_;
  fs::path staging_;
  fs::path target_;
  bool committed_ = false;
};

}  // namespace

fs::path ContentStore::snapshot_path(const Digest& chain_id) const {
  hold(chain_id);  // every use of a snapshot goes through its path
  return detail::snapshots_dir(root_) / to_string(chain_id.algorithm()) / chain_id.hex();
}

bool ContentStore::has_snapshot(const Digest& chain_id) const { return trusted_snapshot(snapshot_path(chain_id)); }

void ContentStore::settle_snapshots(std::span<const Digest> chain_ids, std::chrono::seconds age) const {
  // The marks are read before the sync: a snapshot committed while it runs
  // keeps its mark, since the sync may have missed its files.
  const auto now = detail::boot_clock();
  std::vector<fs::path> settling;
  for (const Digest& chain : chain_ids) {
    fs::path dir = snapshot_path(chain);
    const auto mark = detail::unsynced_mark(dir);
    if (mark && mark->this_boot() && now - mark->at >= age) settling.push_back(std::move(dir));
  }
  if (settling.empty()) return;
  FileHandle fd = open_file(settling.front(), O_RDONLY | O_DIRECTORY);
  sync_filesystem(fd.get(), settling.front());
  for (const fs::path& dir : settling) detail::clear_unsynced_mark(dir);
}

SnapshotIngest ContentStore::begin_snapshot(const Digest& chain_id) {
  if (has_snapshot(chain_id)) return {.present = true, .writer = nullptr};
  fs::path ingest = detail::ingest_dir(root_);
  FileLock lock = FileLock::acquire(ingest / (chain_id.hex() + ".snapshot.lock"));
  // Only now is the answer final: the previous holder may have just committed.
  if (has_snapshot(chain_id)) {
    lock.remove_and_release();
    return {.present = true, .writer = nullptr};
  }
  fs::path staging = ingest / (chain_id.hex() + ".snapshot");
  remove_tree(staging);  // a builder that died left it
  // Written in an earlier boot and never made durable: built again.
  remove_tree(snapshot_path(chain_id));
  detail::make_private_directory(detail::snapshots_dir(root_));
  if (::mkdir(staging.c_str(), 0755) != 0) throw errno_error(errno, "cannot create directory", staging.string());
  return {.present = false,
          .writer = std::make_unique<DirSnapshotWriter>(std::move(lock), std::move(staging), snapshot_path(chain_id))};
}

}  // namespace gantry::core
