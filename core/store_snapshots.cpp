// The snapshot half of ContentStore: unpacked layers by chain ID.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <utility>

#include "core/detail/file_lock.hpp"
#include "core/detail/file_publish.hpp"
#include "core/detail/store_layout.hpp"
#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "core/file_tree.hpp"
#include "core/store.hpp"

namespace gantry::core {

namespace {

namespace fs = std::filesystem;
using detail::FileLock;

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
    // One syncfs instead of an fsync per file: the snapshot's files are on
    // disk before its name says it is complete. Another writer's dirty data
    // on the same filesystem is flushed too; the price of a crash-safe mark.
    FileHandle dir = open_file(staging_, O_RDONLY | O_DIRECTORY);
    if (::syncfs(dir.get()) != 0) throw errno_error(errno, "cannot sync", staging_.string());
    detail::make_directory(target_.parent_path());
    detail::rename_durably(staging_, target_);
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

bool ContentStore::has_snapshot(const Digest& chain_id) const {
  struct stat st {};
  return ::stat(snapshot_path(chain_id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
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
  detail::make_private_directory(detail::snapshots_dir(root_));
  if (::mkdir(staging.c_str(), 0755) != 0) throw errno_error(errno, "cannot create directory", staging.string());
  return {.present = false,
          .writer = std::make_unique<DirSnapshotWriter>(std::move(lock), std::move(staging), snapshot_path(chain_id))};
}

}  // namespace gantry::core
