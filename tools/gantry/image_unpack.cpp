#include "tools/gantry/image_unpack.hpp"

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include "core/error.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "tools/gantry/layer_streams.hpp"
#include "tools/gantry/rootfs_target.hpp"
#include "unpack/applier.hpp"

namespace gantry::tools {

using core::Error;
using core::ErrorKind;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The image, its manifest and config in the store (the layers follow), and
// as many diff IDs as layers.
registry::ResolvedImage resolve_image(registry::Client& client, core::ContentStore& store,
                                      const core::Reference& reference, PullPolicy policy) {
  std::optional<registry::ResolvedImage> stored;
  if (policy != PullPolicy::always) stored = client.resolve_stored(reference, store);
  if (!stored && policy == PullPolicy::never) {
    throw Error(ErrorKind::not_found, "the image is not in the store (and --pull never)",
                {.registry = reference.registry, .repository = reference.repository});
  }
  registry::ResolvedImage image = stored ? std::move(*stored) : client.resolve(reference, store);
  const auto& layers = image.manifest.layers;
  if (image.config.diff_ids.size() != layers.size()) {
    throw Error(ErrorKind::bad_input,
                "config lists " + std::to_string(image.config.diff_ids.size()) + " diff IDs for " +
                    std::to_string(layers.size()) + " layers",
                {.registry = reference.registry, .repository = reference.repository,
                 .digest = image.manifest_descriptor.digest.string()});
  }
  store.put_blob(image.manifest_descriptor.digest, image.manifest_bytes);
  store.put_blob(image.manifest.config.digest, image.config_bytes);
  if (image.index_descriptor) store.put_blob(image.index_descriptor->digest, image.index_bytes);
  return image;
}

unpack::LayerSpec layer_spec(const registry::ResolvedImage& image, std::size_t i, const UnpackOptions& options) {
  const core::Descriptor& layer = image.manifest.layers[i];
  return unpack::LayerSpec{.compression = core::media_type::layer_compression(layer.media_type),
                           .diff_id = image.config.diff_ids[i],
                           .name = layer.digest.string(),
                           .max_uncompressed = options.max_layer_size};
}

// One snapshot being built: its writer (the staging directory), applier and
// pipeline, and a thread that commits the snapshot once the pipeline has
// verified and applied the whole layer.
struct SnapshotBuild {
  core::SnapshotWriterPtr writer;
  std::unique_ptr<unpack::Applier> applier;
  std::unique_ptr<unpack::LayerPipeline> pipeline;
  std::promise<void> complete;
  std::optional<unpack::LayerResult> result;
  std::exception_ptr error;
  std::thread finisher;

  void start() {
    finisher = std::thread([this] {
      try {
        result = pipeline->wait();
        writer->commit();
        complete.set_value();
      } catch (...) {
        error = std::current_exception();
        complete.set_exception(error);
      }
    });
  }

  // Abandoned (an error before the layers were streamed): stop the pipeline
  // so the finisher ends; the writer then removes the staging directory.
  ~SnapshotBuild() {
    if (!finisher.joinable()) return;
    pipeline->input().fail(std::make_exception_ptr(Error(ErrorKind::io, "snapshot abandoned")));
    finisher.join();
  }
};

// Waits for the snapshots below a layer: a layer that needs them (a hardlink
// to a lower file, a parent it does not list) looks into them only once
// they are complete, and fails with their error if they failed.
std::function<void()> await_all(std::vector<std::shared_future<void>> lowers) {
  return [lowers = std::move(lowers)] {
    for (const auto& lower : lowers) lower.get();
  };
}

// Streams the layers; a failure is rethrown after every pipeline stopped,
// the fetch's before the first layer's. `again`: the failure came from wrong
// bytes that were since replaced in the store.
template <class Pipelines>
void stream_and_wait(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                     std::span<const LayerFeed> feeds, UnpackReport& report, bool& again, Pipelines wait_all) {
  std::exception_ptr failure;
  try {
    StreamResult streamed = stream_layers(client, store, reference, feeds);
    report.fetched = streamed.fetched;
    again = streamed.refetched_wrong_bytes;
  } catch (...) {
    failure = std::current_exception();
  }
  wait_all(failure);
  if (failure) std::rethrow_exception(failure);
}

// A host (a mirror) that sends a layer's wrong bytes has fed them to the
// layer's pipeline before the digest could be checked, and failed it; the
// fetcher then takes the layer from the next host into the store. One more
// pass unpacks it from there.
template <class Once>
UnpackReport retrying_replaced_bytes(Once once) {
  auto started = Clock::now();
  bool again = false;
  std::optional<UnpackReport> report;
  try {
    report.emplace(once(again));
  } catch (...) {
    if (!again) throw;
    report.emplace(once(again));
  }
  report->seconds = seconds_since(started);
  return std::move(*report);
}

UnpackReport unpack_rootfs_once(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                                const std::filesystem::path& rootfs, const UnpackOptions& options, bool& again) {
  RootfsTarget target(rootfs);
  const auto resolving = Clock::now();
  UnpackReport report{.image = resolve_image(client, store, reference, options.pull)};
  report.resolve_seconds = seconds_since(resolving);
  const auto& layers = report.image.manifest.layers;

  // One applier and one pipeline per layer; each layer applies after the one
  // below it (flattening is ordered), while all of them decode at once.
  std::vector<std::unique_ptr<unpack::Applier>> appliers;
  std::vector<std::unique_ptr<unpack::LayerPipeline>> pipelines;
  std::vector<LayerFeed> feeds;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    appliers.push_back(std::make_unique<unpack::Applier>(
        target.work(), unpack::ApplyOptions{.max_disk_bytes = options.max_layer_size}));
    std::shared_future<void> after = pipelines.empty() ? std::shared_future<void>{} : pipelines.back()->applied();
    pipelines.push_back(
        std::make_unique<unpack::LayerPipeline>(layer_spec(report.image, i, options), *appliers.back(), after));
    feeds.push_back(LayerFeed{.blob = layers[i], .input = &pipelines.back()->input()});
  }
  stream_and_wait(client, store, reference, feeds, report, again, [&](std::exception_ptr& failure) {
    for (auto& p : pipelines) {
      try {
        report.layers.push_back(p->wait());
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    }
  });
  target.commit();
  store.set_ref(reference.string(), report.image.manifest_descriptor);
  return report;
}

UnpackReport unpack_snapshots_once(registry::Client& client, core::ContentStore& store,
                                   const core::Reference& reference, const UnpackOptions& options, bool& again) {
  const auto resolving = Clock::now();
  UnpackReport report{.image = resolve_image(client, store, reference, options.pull)};
  report.resolve_seconds = seconds_since(resolving);
  const auto& layers = report.image.manifest.layers;
  const std::vector<core::Digest> chains = core::chain_ids(report.image.config.diff_ids);

  // Layer by layer, bottom first: the order every process takes the chain
  // IDs' locks in (ContentStore::begin_snapshot).
  std::vector<std::unique_ptr<SnapshotBuild>> builds;
  std::vector<std::shared_future<void>> complete;  // per layer
  std::vector<LayerFeed> feeds;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    report.snapshots.push_back(store.snapshot_path(chains[i]));
    core::SnapshotIngest ingest = store.begin_snapshot(chains[i]);
    if (ingest.present) {
      std::promise<void> present;
      present.set_value();
      complete.push_back(present.get_future().share());
      feeds.push_back(LayerFeed{.blob = layers[i], .input = nullptr});
      continue;
    }
    auto build = std::make_unique<SnapshotBuild>();
    build->writer = std::move(ingest.writer);
    unpack::ApplyOptions apply{.mode = unpack::ApplyMode::snapshot,
                               .lower_dirs = std::vector<std::filesystem::path>(report.snapshots.rbegin() + 1,
                                                                                report.snapshots.rend()),
                               .await_lowers = await_all(complete),
                               .max_disk_bytes = options.max_layer_size};
    build->applier = std::make_unique<unpack::Applier>(build->writer->dir(), std::move(apply));
    build->pipeline = std::make_unique<unpack::LayerPipeline>(layer_spec(report.image, i, options), *build->applier);
    complete.push_back(build->complete.get_future().share());
    feeds.push_back(LayerFeed{.blob = layers[i], .input = &build->pipeline->input()});
    build->start();
    builds.push_back(std::move(build));
  }

  // The first failure bottom up is the cause; upper layers waiting for a
  // failed lower one fail with its error.
  stream_and_wait(client, store, reference, feeds, report, again, [&](std::exception_ptr& failure) {
    for (auto& build : builds) {
      build->finisher.join();
      if (build->error && !failure) failure = build->error;
      if (build->result) report.layers.push_back(*build->result);
    }
  });
  store.set_ref(reference.string(), report.image.manifest_descriptor);
  return report;
}

}  // namespace

UnpackReport unpack_rootfs(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                           const std::filesystem::path& rootfs, const UnpackOptions& options) {
  return retrying_replaced_bytes(
      [&](bool& again) { return unpack_rootfs_once(client, store, reference, rootfs, options, again); });
}

UnpackReport unpack_snapshots(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                              const UnpackOptions& options) {
  return retrying_replaced_bytes(
      [&](bool& again) { return unpack_snapshots_once(client, store, reference, options, again); });
}

}  // namespace gantry::tools
