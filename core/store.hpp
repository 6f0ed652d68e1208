#pragma once
// The content store: an OCI image layout (image-spec image-layout.md) that
// skopeo, umoci and containerd can read, plus gantry's own working folders.
//
//   ROOT/oci-layout, ROOT/index.json      refs, as org.opencontainers.image.ref.name
//   ROOT/blobs/<alg>/<hex>                verified blobs only
//   ROOT/ingest/<hex>.partial             downloads in progress, kept for resume
//   ROOT/ingest/<hex>.lock                one writer per digest (flock)
//   ROOT/ingest/index.lock                serialises index.json updates
//   ROOT/snapshots/<alg>/<hex>/           one layer unpacked (overlay whiteout form),
//                                         named by its chain ID; complete when present
//   ROOT/ingest/<hex>.snapshot/           a snapshot being built, renamed into place
//   ROOT/ingest/<hex>.snapshot.lock       one builder per chain ID (flock)
//   ROOT/leases/                          what each process uses (core/lease.hpp)
//
// Several gantry processes may share one store: blob writers take a per-digest
// file lock, blobs and index.json are replaced by atomic rename, and index.json
// updates are serialised by a lock so no update is lost. Every file other
// tools read appears complete or not at all (temporary + fsync + rename/link).
// Errors from the filesystem are Error(io) with strerror and the path.
//
// Every digest a store object is asked about (a blob, a snapshot's chain
// ID, a ref's target) is first held in the process's lease, so a gc in
// another process never removes what this one reads, writes or runs; the
// lease ends with the last copy of the object.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/descriptor.hpp"
#include "core/digest.hpp"
#include "core/lease.hpp"

namespace gantry::core {

inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// The name an index.json entry carries (kRefNameAnnotation); nullopt for an
// entry without one (other tools write those).
[[nodiscard]] inline std::optional<std::string> ref_name(const Descriptor& entry) {
  auto it = entry.annotations.find(std::string(kRefNameAnnotation));
  if (it == entry.annotations.end()) return std::nullopt;
  return it->second;
}

// Appends one blob's bytes to its partial file while hashing them. Holds the
// digest's lock until commit() or destruction (also when an exception unwinds
// it); a second writer for the digest, in this process or another, is busy.
// Destroyed without commit(), the partial file stays for a later resume.
// One thread at a time.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Bytes already in the partial file when it was opened (the resume point),
  // plus those written since; all of them are in the running hash.
  [[nodiscard]] virtual std::int64_t offset() const = 0;
  // The hot path: no allocation, full writes (EINTR and short writes
  // retried). Throws Error(bad_input) "more bytes than the descriptor's size
  // N", writing nothing, when the bytes would exceed the expected size.
  virtual void write(const void* data, std::size_t size) = 0;
  // Checks size and digest, makes the bytes durable, renames into blobs/ and
  // releases the lock. Fewer bytes than expected: Error(bad_input), the
  // writer stays usable and the partial is kept (it is a valid prefix). A
  // digest mismatch: the partial is deleted, the lock released and
  // Error(digest_mismatch) thrown naming both digests. A writer is finished
  // after a commit() that got past the size check; using it again throws
  // std::logic_error.
  virtual void commit() = 0;
  // Empties the partial file and restarts the hash at offset 0 (e.g. a
  // server restarted the blob from byte 0); the lock is kept.
  virtual void discard() = 0;
};
using BlobWriterPtr = std::unique_ptr<BlobWriter>;

enum class IngestState {
  writer_ready,    // the writer is ours; offset() says where to resume
  already_present, // a verified blob with this digest is in the store
  busy,            // another writer (any process, this one too) has it; try again later
};

struct IngestResult {
  IngestState state;
  BlobWriterPtr writer;  // set only with writer_ready
};

// Builds one layer snapshot in a staging directory under the chain ID's
// lock. commit() renames the directory into snapshots/, where it is
// complete (durable once settled: ContentStore::settle_snapshots);
// destroyed without commit(), the staging directory is removed. One thread
// at a time.
class SnapshotWriter {
 public:
  virtual ~SnapshotWriter() = default;
  // Where the layer's files go: an empty directory when the writer is made.
  [[nodiscard]] virtual const std::filesystem::path& dir() const = 0;
  // The caller has checked the layer's diff ID. Marks the directory as
  // written in this boot, renames it into place, unlocks; where no mark can
  // be set (no CAP_SYS_ADMIN, a filesystem without xattrs), syncfs(2) of the
  // store's filesystem first and an fsync of snapshots/<alg>/ after.
  virtual void commit() = 0;
};
using SnapshotWriterPtr = std::unique_ptr<SnapshotWriter>;

struct SnapshotIngest {
  bool present = false;      // a complete snapshot is in the store
  SnapshotWriterPtr writer;  // otherwise: ours to build
};

// Whether a store object holds what it is asked about in a lease: all do,
// but gc (which must not protect what it sweeps) and the commands that only
// look (images, df, rmi).
enum class StoreLease { taken, none };

class ContentStore {
 public:
  // Opens the layout at root, creating it (and oci-layout, index.json) if absent.
  // Processes opening one new store at once all succeed. Throws Error(io) when
  // it cannot, Error(bad_input) for a folder that holds something else (an
  // oci-layout of another version, or one that is not JSON).
  explicit ContentStore(std::filesystem::path root, StoreLease lease = StoreLease::taken);

  // $GANTRY_STORE, else /var/lib/gantry when the effective uid is 0, else
  // $XDG_DATA_HOME/gantry (ignored when relative, per the XDG spec), else
  // $HOME/.local/share/gantry. Error(bad_input) when none applies.
  [[nodiscard]] static std::filesystem::path default_root();

  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }
  [[nodiscard]] std::filesystem::path blob_path(const Digest& digest) const;
  [[nodiscard]] bool has_blob(const Digest& digest) const;

  // A whole small blob (manifest, config), re-verified against its digest.
  // Error(not_found) if absent, Error(bad_input) if larger than max_size,
  // Error(digest_mismatch) if the stored bytes were altered; each names the
  // digest and the path.
  [[nodiscard]] std::string read_blob(const Digest& digest, std::size_t max_size) const;
  // Stores bytes held in memory after checking them against the digest
  // (Error(digest_mismatch) naming both digests). A present blob: no-op.
  void put_blob(const Digest& digest, std::string_view bytes);

  // Where begin_ingest keeps the blob's partial file. Its bytes (a valid
  // prefix of the blob) may be read while the writer appends, e.g. to
  // replay a resumed prefix into a decoder.
  [[nodiscard]] std::filesystem::path partial_path(const Digest& digest) const;

  // Starts (or resumes) streaming a blob into the store. Never blocks: a
  // digest being written by another writer answers busy. A partial longer
  // than expected_size is restarted from 0.
  [[nodiscard]] IngestResult begin_ingest(const Digest& digest, std::int64_t expected_size);

  // Snapshots (unpacked layers) by chain ID (image-spec config.md#layer-chainid).
  // A snapshot is committed without waiting for the disk and marked with
  // the boot it was written in (detail/unsynced_mark.hpp): present in that
  // boot, absent after a power loss until it is built again, durable (its
  // mark gone) once settled.
  [[nodiscard]] std::filesystem::path snapshot_path(const Digest& chain_id) const;
  [[nodiscard]] bool has_snapshot(const Digest& chain_id) const;
  // Makes durable, with one syncfs(2), those of these snapshots that were
  // committed at least `age` ago in this boot, and removes their marks. By
  // then the kernel's writeback has usually put their data on disk (it
  // writes dirty pages older than 30 s), so the sync costs little.
  void settle_snapshots(std::span<const Digest> chain_ids, std::chrono::seconds age) const;
  // Starts building a snapshot, or says it is present. Waits while another
  // builder (any process, this one too) holds the chain ID; a staging
  // directory left by a builder that died is removed first. Lock in the
  // order of an image's layers: a chain ID depends on every layer below it,
  // so two images sharing layers take their common locks in the same order.
  [[nodiscard]] SnapshotIngest begin_snapshot(const Digest& chain_id);

  // index.json: names a manifest (or index). Replaces an entry of the same
  // name; entries and fields written by other tools are kept. The name must
  // follow the ref grammar of image-spec annotations.md (Error(bad_input)),
  // e.g. "docker.io/library/alpine:3.19". Safe against concurrent processes.
  // An identical entry already present is left as it is (nothing written).
  void set_ref(std::string_view name, const Descriptor& manifest);
  [[nodiscard]] std::optional<Descriptor> find_ref(std::string_view name) const;
  // Removes the entries of index.json that `which` selects, safe against
  // concurrent processes as set_ref; returns them, in the file's order. The
  // blobs and snapshots they named stay: gc removes what nothing reaches.
  std::vector<Descriptor> remove_refs(const std::function<bool(const Descriptor&)>& which);
  // Every entry of index.json, each carrying its name in annotations (those
  // other tools wrote may have none). Error(bad_input) for a malformed file.
  [[nodiscard]] std::vector<Descriptor> refs() const;

 private:
  void hold(const Digest& digest) const {
    if (lease_) lease_->hold(digest);
  }

  std::filesystem::path root_;
  std::shared_ptr<Lease> lease_;  // shared by copies; null with StoreLease::none
};

}  // namespace gantry::core
