#include "engine/image_unpack.hpp"

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <stop_token>
#include <vector>

#include "core/error.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "engine/detail/layer_input.hpp"
#include "engine/detail/layer_streams.hpp"
#include "engine/layer_window.hpp"
#include "engine/rootfs_target.hpp"
#include "unpack/applier.hpp"

namespace gantry::engine {

using core::Error;
using core::ErrorKind;

using detail::LayerFeed;
using detail::LayerInput;
using detail::stream_layers;
using detail::StreamResult;

namespace {

using Clock = std::chrono::steady_clock;

// The kernel writes back dirty pages older than 30 s (vm.dirty_expire_centisecs),
// so a snapshot committed that long ago costs its settling sync little.
constexpr std::chrono::seconds kSettleAfter{30};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Puts the image's manifest and config in the store (the layers follow),
// once its config is known to match the manifest.
void check_and_keep_documents(const registry::ResolvedImage& image, core::ContentStore& store) {
  const core::Reference& reference = image.reference;
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
}

void mark_all(const ImageTimeline& timeline, std::size_t layers, LayerPhase phase) {
  const auto now = Clock::now();
  for (std::size_t i = 0; i < layers; ++i) timeline.mark(i, phase, now);
}

unpack::LayerSpec layer_spec(const registry::ResolvedImage& image, std::size_t i, const UnpackOptions& options) {
  const core::Descriptor& layer = image.manifest.layers[i];
  return unpack::LayerSpec{.compression = core::media_type::layer_compression(layer.media_type),
                           .diff_id = image.config.diff_ids[i],
                           .name = layer.digest.string(),
                           .max_uncompressed = options.max_layer_size};
}

// Waits for the snapshots below a layer: a layer that needs them (a hardlink
// to a lower file, a parent it does not list) looks into them only once
// they are complete, and fails with their error if they failed.
std::function<void()> await_all(std::vector<std::shared_future<void>> lowers) {
  return [lowers = std::move(lowers)] {
    for (const auto& lower : lowers) lower.get();
  };
}

// Fails every layer's input (the first failure, a stop request): each
// pipeline stops, and so does each download at its next chunk.
// A layer's pipeline ended well: its decode and apply times and its waits.
void record_applied(const ImageTimeline& timeline, std::size_t layer, const unpack::LayerResult& result) {
  timeline.mark(layer, LayerPhase::decoded, result.decoded_at);
  timeline.mark(layer, LayerPhase::applied, result.applied_at);
  timeline.add_wait(layer, LayerWait::network, result.waited_for_input);
  timeline.add_wait(layer, LayerWait::decoder, result.waited_for_decoder);
  timeline.add_wait(layer, LayerWait::applier, result.waited_for_applier);
}

void fail_inputs(std::span<const LayerFeed> feeds, const std::exception_ptr& error) {
  for (const LayerFeed& feed : feeds) {
    if (feed.input) feed.input->queue().fail(error);
  }
}

// Every layer's input, and the feeds that name them; `wanted(i)` says
// whether layer i unpacks (else its blob only has to be in the store).
struct Inputs {
  std::vector<std::unique_ptr<LayerInput>> inputs;
  std::vector<LayerFeed> feeds;

  template <class Wanted>
  Inputs(const std::vector<core::Descriptor>& layers, Wanted wanted) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      inputs.push_back(wanted(i) ? std::make_unique<LayerInput>() : nullptr);
      feeds.push_back(LayerFeed{.blob = layers[i], .input = inputs.back().get()});
    }
  }
};

// Streams the layers while `window` unpacks them; a failure is rethrown
// after every layer stopped, the fetch's before the first layer's. `again`:
// the failure came from wrong bytes that were since replaced in the store.
void stream_and_wait(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                     const Inputs& inputs, LayerWindow& window, const std::stop_token& stop, UnpackReport& report,
                     bool& again) {
  // SIGINT/SIGTERM: stop like after any failure, from the signal's thread.
  std::stop_callback stopping(stop, [&inputs] {
    fail_inputs(inputs.feeds, std::make_exception_ptr(Error(ErrorKind::io, "interrupted")));
  });
  std::exception_ptr failure;
  try {
    StreamResult streamed = stream_layers(client, store, reference, inputs.feeds);
    report.fetched = streamed.fetched;
    again = streamed.refetched_wrong_bytes;
  } catch (...) {
    failure = std::current_exception();
  }
  std::exception_ptr layers_failure = window.join();
  if (!failure) failure = layers_failure;
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

// A layer in flight: its applier and pipeline (and, for a snapshot, the
// writer of its staging directory), freed once the layer is finished.
struct InFlight {
  core::SnapshotWriterPtr writer;
  std::unique_ptr<unpack::Applier> applier;
  std::unique_ptr<unpack::LayerPipeline> pipeline;
};

// Waits for a layer in flight, then frees it and its input; rethrows its failure.
template <class Done>
void finish_layer(InFlight& slot, LayerInput* input, Done done) {
  InFlight layer = std::move(slot);
  std::exception_ptr error;
  try {
    if (layer.pipeline) done(layer, layer.pipeline->wait());
  } catch (...) {
    error = std::current_exception();
  }
  layer.pipeline.reset();
  if (input) input->finish();
  if (error) std::rethrow_exception(error);
}

UnpackReport unpack_rootfs_once(registry::Client& client, core::ContentStore& store, const registry::ResolvedImage& image,
                                const std::filesystem::path& rootfs, const UnpackOptions& options, LayerBudget& budget,
                                const ImageTimeline& timeline, bool& again) {
  RootfsTarget target(rootfs);
  check_and_keep_documents(image, store);
  mark_all(timeline, image.manifest.layers.size(), LayerPhase::queued);
  UnpackReport report{.image = image};
  const core::Reference& reference = image.reference;
  const auto& layers = report.image.manifest.layers;

  // Each layer applies after the one below it (flattening is ordered); until
  // then it stages its files beside the target (ApplyOptions::staging_dir).
  Inputs inputs(layers, [](std::size_t) { return true; });
  std::vector<InFlight> in_flight(layers.size());
  std::vector<std::shared_future<void>> applied(layers.size());
  LayerWindow window(
      layers.size(), options.layers_in_flight, budget,
      LayerSteps{
          .start =
              [&](std::size_t i) {
                InFlight& layer = in_flight[i];
                unpack::ApplyOptions apply{.max_disk_bytes = options.max_layer_size};
                if (i > 0) {
                  apply.lowers_applied = applied[i - 1];
                  apply.staging_dir = target.staging_dir(i);
                }
                layer.applier = std::make_unique<unpack::Applier>(target.work(), std::move(apply));
                layer.pipeline = std::make_unique<unpack::LayerPipeline>(
                    layer_spec(report.image, i, options), *layer.applier, inputs.inputs[i]->queue());
                applied[i] = layer.pipeline->applied();
                inputs.inputs[i]->admit();
              },
          .finish =
              [&](std::size_t i) {
                finish_layer(in_flight[i], inputs.inputs[i].get(), [&](InFlight&, unpack::LayerResult result) {
                  record_applied(timeline, i, result);
                  report.layers.push_back(result);
                });
              },
          .stop_all = [&](const std::exception_ptr& error) { fail_inputs(inputs.feeds, error); },
      });
  stream_and_wait(client, store, reference, inputs, window, options.stop, report, again);
  target.commit();
  mark_all(timeline, layers.size(), LayerPhase::committed);  // the rootfs is one commit
  store.set_ref(reference.string(), registry::recorded_descriptor(report.image));
  return report;
}

UnpackReport unpack_snapshots_once(registry::Client& client, core::ContentStore& store,
                                   const registry::ResolvedImage& image, const UnpackOptions& options,
                                   LayerBudget& budget, const ImageTimeline& timeline, bool& again) {
  check_and_keep_documents(image, store);
  mark_all(timeline, image.manifest.layers.size(), LayerPhase::queued);
  UnpackReport report{.image = image};
  const core::Reference& reference = image.reference;
  const auto& layers = report.image.manifest.layers;
  const std::vector<core::Digest> chains = core::chain_ids(report.image.config.diff_ids);
  for (const core::Digest& chain : chains) report.snapshots.push_back(store.snapshot_path(chain));
  // Snapshots an earlier command committed are made durable once the
  // kernel has likely written them back: no request waits for a flush of
  // what it just wrote.
  store.settle_snapshots(chains, kSettleAfter);

  // A layer is complete once its snapshot is (in the store, or committed).
  std::vector<std::promise<void>> completing(layers.size());
  std::vector<std::shared_future<void>> complete;
  for (auto& promise : completing) complete.push_back(promise.get_future().share());
  Inputs inputs(layers, [&](std::size_t i) { return !store.has_snapshot(chains[i]); });
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (!inputs.inputs[i]) completing[i].set_value();
  }

  // Layers start bottom first: the order every process takes the chain
  // IDs' locks in (ContentStore::begin_snapshot).
  std::vector<InFlight> in_flight(layers.size());
  LayerWindow window(
      layers.size(), options.layers_in_flight, budget,
      LayerSteps{
          .start =
              [&](std::size_t i) {
                if (!inputs.inputs[i]) return;
                core::SnapshotIngest ingest = store.begin_snapshot(chains[i]);
                if (ingest.present) {  // another process just made it
                  inputs.inputs[i]->abandon();
                  completing[i].set_value();
                  return;
                }
                InFlight& layer = in_flight[i];
                layer.writer = std::move(ingest.writer);
                unpack::ApplyOptions apply{
                    .mode = unpack::ApplyMode::snapshot,
                    .lower_dirs = std::vector<std::filesystem::path>(report.snapshots.rend() - i, report.snapshots.rend()),
                    .await_lowers = await_all(std::vector(complete.begin(), complete.begin() + i)),
                    .max_disk_bytes = options.max_layer_size};
                layer.applier = std::make_unique<unpack::Applier>(layer.writer->dir(), std::move(apply));
                layer.pipeline = std::make_unique<unpack::LayerPipeline>(layer_spec(report.image, i, options),
                                                                         *layer.applier, inputs.inputs[i]->queue());
                inputs.inputs[i]->admit();
              },
          .finish =
              [&](std::size_t i) {
                // Upper layers waiting for a failed lower one fail with its error.
                try {
                  finish_layer(in_flight[i], inputs.inputs[i].get(), [&](InFlight& layer, unpack::LayerResult result) {
                    record_applied(timeline, i, result);
                    layer.writer->commit();
                    timeline.mark(i, LayerPhase::committed);
                    report.layers.push_back(result);
                    completing[i].set_value();
                  });
                } catch (...) {
                  completing[i].set_exception(std::current_exception());
                  throw;
                }
              },
          .stop_all = [&](const std::exception_ptr& error) { fail_inputs(inputs.feeds, error); },
      });
  stream_and_wait(client, store, reference, inputs, window, options.stop, report, again);
  store.set_ref(reference.string(), registry::recorded_descriptor(report.image));
  return report;
}

}  // namespace

void refuse_too_many_layers(const registry::ResolvedImage& image) {
  const std::size_t count = image.manifest.layers.size();
  if (count <= kMaxLayers) return;
  const core::Reference& reference = image.reference;
  throw Error(ErrorKind::unsupported,
              "the image has " + std::to_string(count) + " layers, more than the " + std::to_string(kMaxLayers) +
                  " gantry takes",
              {.registry = reference.registry, .repository = reference.repository,
               .digest = image.manifest_descriptor.digest.string()});
}

UnpackReport unpack_rootfs(registry::Client& client, core::ContentStore& store, const registry::ResolvedImage& image,
                           const std::filesystem::path& rootfs, const UnpackOptions& options, LayerBudget& budget,
                           const ImageTimeline& timeline) {
  return retrying_replaced_bytes(
      [&](bool& again) { return unpack_rootfs_once(client, store, image, rootfs, options, budget, timeline, again); });
}

UnpackReport unpack_snapshots(registry::Client& client, core::ContentStore& store, const registry::ResolvedImage& image,
                              const UnpackOptions& options, LayerBudget& budget, const ImageTimeline& timeline) {
  return retrying_replaced_bytes(
      [&](bool& again) { return unpack_snapshots_once(client, store, image, options, budget, timeline, again); });
}

}  // namespace gantry::engine
