#pragma once
// The content store: an OCI image layout (image-spec image-layout.md) that
// skopeo, umoci and containerd can read, plus gantry's own working folders.
//
//   ROOT/oci-layout, ROOT/index.json      refs, as org.opencontainers.image.ref.name
//   ROOT/blobs/<alg>/<hex>                verified blobs only
//   ROOT/ingest/<hex>.partial             downloads in progress, kept for resume
//   ROOT/ingest/<hex>.lock                one writer per digest across processes
//
// Several gantry processes may share one store: blob writers take a per-digest
// file lock, blobs and index.json are replaced by atomic rename, and index.json
// updates are serialised by a lock so no update is lost.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/descriptor.hpp"
#include "core/digest.hpp"

namespace gantry::core {

inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// Appends one blob's bytes to its partial file while hashing them. Holds the
// digest's lock for its whole life. Destroyed without commit(), the partial
// file stays for a later resume.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Bytes already in the partial file when it was opened (the resume point),
  // plus those written since; all of them are in the running hash.
  [[nodiscard]] virtual std::int64_t offset() const = 0;
  // Throws Error(bad_input) when the bytes would exceed the expected size.
  virtual void write(const void* data, std::size_t size) = 0;
  // Checks size and digest, makes the bytes durable, renames into blobs/.
  // On a mismatch the partial file is deleted and Error(digest_mismatch) or
  // Error(bad_input) (size) thrown, naming the digest.
  virtual void commit() = 0;
  // Drops the partial file (e.g. a server restarted the blob from byte 0).
  virtual void discard() = 0;
};
using BlobWriterPtr = std::unique_ptr<BlobWriter>;

enum class IngestState {
  writer_ready,    // the writer is ours; offset() says where to resume
  already_present, // a verified blob with this digest is in the store
  busy,            // another process is writing it; try again later
};

struct IngestResult {
  IngestState state;
  BlobWriterPtr writer;  // set only with writer_ready
};

class ContentStore {
 public:
  // Opens the layout at root, creating it (and oci-layout, index.json) if absent.
  // Throws Error(io) when it cannot, Error(bad_input) for a folder that holds
  // something else (an oci-layout of an unknown version).
  explicit ContentStore(std::filesystem::path root);

  // $GANTRY_STORE, else /var/lib/gantry as root, else $XDG_DATA_HOME/gantry
  // (~/.local/share/gantry).
  [[nodiscard]] static std::filesystem::path default_root();

  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }
  [[nodiscard]] std::filesystem::path blob_path(const Digest& digest) const;
  [[nodiscard]] bool has_blob(const Digest& digest) const;

  // A whole small blob (manifest, config), re-verified against its digest.
  // Error(not_found) if absent, Error(bad_input) if larger than max_size,
  // Error(digest_mismatch) if the stored bytes were altered.
  [[nodiscard]] std::string read_blob(const Digest& digest, std::size_t max_size) const;
  // Stores bytes held in memory after checking them against the digest.
  void put_blob(const Digest& digest, std::string_view bytes);

  // Starts (or resumes) streaming a blob into the store. Never blocks: a
  // digest being written by another process answers busy.
  [[nodiscard]] IngestResult begin_ingest(const Digest& digest, std::int64_t expected_size);

  // index.json: names a manifest (or index). Replaces an entry of the same name.
  void set_ref(std::string_view name, const Descriptor& manifest);
  [[nodiscard]] std::optional<Descriptor> find_ref(std::string_view name) const;
  // Every entry of index.json, each carrying its name in annotations.
  [[nodiscard]] std::vector<Descriptor> refs() const;

 private:
  std::filesystem::path root_;
};

}  // namespace gantry::core
