#pragma once
// Collecting a store's garbage (`gantry gc`, and `gantry df`'s reclaimable
// column): mark what the references of index.json reach — the index or
// manifest each names, every platform manifest of an index that is in the
// store, their configs and layers, the snapshots of their chain IDs, and the
// kept containers (`run --keep`) of those images — and sweep the blobs,
// snapshots, partial downloads, abandoned snapshot staging dirs and kept
// containers nothing reaches and no live lease holds (core/lease.hpp).
//
// The sweep runs under leases/gc.lock, held from reading the leases to the
// last removal: a pull, unpack or run in another process either held its
// digests before (they stay) or holds them after (it sees what gc left, and
// fetches or unpacks again what is gone). A reference whose documents
// cannot be read (altered, malformed) stops gc before anything is removed:
// what it reaches cannot be known. Running containers' dirs are left alone
// (their snapshots are in their run's lease); those of a killed gantry are
// removed by the next `gantry run`.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/digest.hpp"

namespace gantry::engine {

// STORE/containers/: a running container's dir is <id> + this marker +
// its gantry's pid (owned_name), a kept one <id>.
inline std::filesystem::path containers_dir(const std::filesystem::path& store_root) {
  return store_root / "containers";
}
inline constexpr std::string_view kRunningContainerMarker = ".running-";

struct Reclaimable {
  std::size_t count = 0;
  std::int64_t bytes = 0;  // allocated on disk
};

struct StoreUse {
  Reclaimable all;          // what there is
  Reclaimable unreachable;  // of which gc removes (or removed)
};

struct GcReport {
  StoreUse blobs;
  StoreUse snapshots;
  StoreUse partials;  // partial downloads and abandoned snapshot staging dirs
  StoreUse containers;
  std::size_t live_leases = 0;
  std::size_t expired_leases = 0;  // of dead processes: removed (not with dry_run)
  [[nodiscard]] std::int64_t unreachable_bytes() const {
    return blobs.unreachable.bytes + snapshots.unreachable.bytes + partials.unreachable.bytes +
           containers.unreachable.bytes;
  }
};

struct GcOptions {
  // Remove nothing, take no lock: what a gc would remove now.
  bool dry_run = false;
  // Also measure what stays (df); a gc measures only what it removes.
  bool measure_all = false;
};

// The store at `root` (which must exist; it is opened without a lease).
[[nodiscard]] GcReport collect_garbage(const std::filesystem::path& root, GcOptions options);

// A kept container's dir (STORE/containers/<id>/) names the image it ran —
// the digest index.json records for it — so that gc keeps it exactly as long
// as a reference reaches that image.
void record_container_image(const std::filesystem::path& container_dir, const core::Digest& image);

}  // namespace gantry::engine
