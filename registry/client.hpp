#pragma once
// The registry client: resolves references to manifests and fetches blobs
// (OCI distribution-spec, docker registry token auth). The client has one
// I/O thread of its own; a call hands it the work and waits for it, and
// calls from several threads at once (the engine's images) share one
// connection pool, one token cache, the download slots and one download
// per digest.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/manifest.hpp"
#include "core/progress.hpp"
#include "core/reference.hpp"
#include "core/store.hpp"
#include "registry/blob_sink.hpp"
#include "registry/options.hpp"

namespace gantry::registry {

// A reference resolved down to one image: the raw documents (inspect prints
// them, pull stores them byte for byte) and their parsed models. Every
// document was checked against its digest.
struct ResolvedImage {
  core::Reference reference;
  // Set when the reference names an index (or Docker manifest list).
  std::optional<core::Descriptor> index_descriptor;
  std::string index_bytes;
  std::optional<core::Index> index;
  // The image manifest: the index entry picked for the platform, or what the
  // reference names. The descriptor carries the platform from the index.
  core::Descriptor manifest_descriptor;
  std::string manifest_bytes;
  core::Manifest manifest;
  std::string config_bytes;
  core::ImageConfig config;
  // The index entry's platform, else the config's.
  core::Platform platform;
  // When this resolve was let in by the registry (Session::request), had
  // the image's manifest and its config (the engine's timeline); unset for
  // an image read from the store (auth_at also for a manifest it had).
  std::optional<std::chrono::steady_clock::time_point> auth_at{};
  std::optional<std::chrono::steady_clock::time_point> manifest_at{};
  std::optional<std::chrono::steady_clock::time_point> config_at{};
};

struct FetchStats {
  std::int64_t bytes_fetched = 0;
  std::size_t blobs_fetched = 0;
  std::size_t blobs_cached = 0;
};

struct PullResult {
  ResolvedImage image;
  FetchStats stats;
  double seconds = 0;
};

// What index.json records for the image's reference: the index it came
// through when there is one, else the manifest. Naming the index (as
// containerd does) keeps every platform pulled of one name: a second
// platform adds its manifest under the same index, and a reference pinned
// to an index digest stays the digest the user gave.
[[nodiscard]] const core::Descriptor& recorded_descriptor(const ResolvedImage& image);

// The "resolved" event of `image` (what a pull announces once it knows the
// image; the engine announces it the same way for its other requests).
[[nodiscard]] core::progress::Resolved resolved_event(const ResolvedImage& image);

class Client {
 public:
  // `events` (may be null) must outlive the client.
  explicit Client(Options options, core::progress::EventSink* events = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Manifest (through the index for the platform) and config from the
  // registry. Error kinds: network, auth, not_found, digest_mismatch,
  // bad_input (oversized or malformed documents), unsupported.
  [[nodiscard]] ResolvedImage resolve(const core::Reference& reference);
  // The same through a store: documents it holds are read from it (by digest
  // nothing goes to the network), and the config is fetched into it, once
  // per digest across processes, as pull does.
  [[nodiscard]] ResolvedImage resolve(const core::Reference& reference, core::ContentStore& store);
  // The same, started at once and not waited for (the engine resolves every
  // image it is given before their layers take the download slots). The
  // store must outlive the future's result.
  // `platform` overrides the options' for this image.
  [[nodiscard]] std::future<ResolvedImage> start_resolve(core::Reference reference, core::ContentStore& store,
                                                         std::optional<core::Platform> platform = std::nullopt);
  // The platforms the index a reference names offers (`--all-platforms`),
  // empty for a reference to one image manifest; started at once, so that
  // many are asked together. Documents in the store are read from it.
  [[nodiscard]] std::future<std::vector<core::Platform>> start_platforms(core::Reference reference,
                                                                        const core::ContentStore& store);
  // Resolves (documents already in the store are not fetched again: by
  // digest nothing goes to the network, by tag only a HEAD), stores the
  // manifest(s) and config, fetches every missing layer concurrently, then
  // records the reference in index.json (recorded_descriptor).
  PullResult pull(const core::Reference& reference, core::ContentStore& store);
  // The same for an image resolved already (resolve, start_resolve).
  PullResult pull(ResolvedImage image, core::ContentStore& store);

  // The lower level for streaming consumers: every blob of `blobs` from the
  // repository of `repository` (its tag and digest are ignored) into sinks
  // from `sinks`, `jobs` at once. Throws the first error after stopping the
  // other downloads.
  FetchStats fetch_blobs(const core::Reference& repository, std::span<const core::Descriptor> blobs,
                         BlobSinkFactory& sinks);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry::registry
