#pragma once
// What a process is using in a store, on disk, so that `gantry gc` in any
// other process leaves it alone (containerd's leases, without a daemon).
//
//   ROOT/leases/<pid>-<random>   one per process using the store: the digests
//                                it held, one "sha256:<hex>" line each, and
//                                an exclusive flock for as long as it lives
//   ROOT/leases/gc.lock          gc holds it exclusively from reading the
//                                leases to the end of its sweep; holders take
//                                it shared while they add a digest
//
// The rule that makes gc safe: a digest (a blob, or a snapshot's chain ID)
// is held BEFORE the store is asked about it. Either the line is written
// before gc reads the leases (gc keeps the digest), or after gc's sweep
// (the holder then sees the store as gc left it: a blob gc removed is
// fetched again). A lease whose process died has no flock left: gc removes
// it, so a crash never pins anything for long.

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "core/digest.hpp"
#include "core/file_handle.hpp"

namespace gantry::core {

inline constexpr std::string_view kLeasesDir = "leases";
inline constexpr std::string_view kGcLock = "gc.lock";

// This process's lease on one store; made at the first hold(), its file
// removed when the lease is destroyed. Thread-safe.
class Lease {
 public:
  explicit Lease(std::filesystem::path store_root) : root_(std::move(store_root)) {}
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Writes `digest` into the lease (once: a digest held already costs a set
  // lookup). Waits while a gc sweeps. Error(io) when the lease cannot be
  // written: then nothing may rely on the digest staying.
  void hold(const Digest& digest);

 private:
  void create();  // under mutex_

  std::filesystem::path root_;
  std::mutex mutex_;
  std::set<std::string> held_;
  std::filesystem::path path_;
  FileHandle file_;     // the lease, flocked exclusively
  FileHandle gc_lock_;  // leases/gc.lock, flocked shared while a line is added
};

// What the live leases of a store hold, read by gc while it holds gc.lock
// exclusively (leases/gc.lock, FileLock::acquire). The leases of dead
// processes are counted in `expired`, and removed with `remove_expired`.
struct LiveLeases {
  std::set<std::string> held;  // "sha256:<hex>"
  std::size_t live = 0;
  std::size_t expired = 0;
};
[[nodiscard]] LiveLeases read_live_leases(const std::filesystem::path& store_root, bool remove_expired);

}  // namespace gantry::core
