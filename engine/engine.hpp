#pragma once
// One per process: the commands submit image requests to it, from any
// thread, and it works on them at once under one budget (DESIGN.md, the
// flow). Every request is resolved as soon as it comes (manifests and
// configs first); then images are worked on a few at once (the others wait
// in the order they came), each bottom layer first, with the layers
// decoding and applying at once bounded over all images (LayerBudget), and
// the registry client's download slots, which every image's downloads
// share, taken in the order asked. A blob two images need is fetched once (the
// client's single flight per digest, and the store's lock across
// processes); a snapshot two images need is unpacked once (the store's
// snapshot lock): only the request that needs it waits.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/reference.hpp"
#include "core/store.hpp"
#include "engine/event_stamper.hpp"
#include "engine/image_unpack.hpp"
#include "engine/layer_window.hpp"
#include "engine/timeline.hpp"
#include "registry/client.hpp"

namespace gantry::engine {

// What a request leaves behind.
enum class Goal {
  blobs,      // every blob verified in the store, the reference recorded (gantry pull)
  snapshots,  // and every layer unpacked into its snapshot (pull --unpack, run)
  rootfs,     // a flattened rootfs in a directory (gantry unpack, bundle)
};

struct ImageRequest {
  core::Reference reference;
  Goal goal = Goal::blobs;
  std::filesystem::path rootfs{};  // Goal::rootfs: new, or an empty directory
  // The platform to pick from an index, instead of the options' (one
  // request per platform: `--all-platforms`). The engine's events and
  // timeline name an image by its reference: requests for one reference
  // must not be in flight at once.
  std::optional<core::Platform> platform{};
};

struct EngineOptions {
  // How each image is unpacked; `layers_in_flight` is also the budget of
  // layers in flight over all images.
  UnpackOptions unpack;
  // Images worked on at once.
  std::size_t images_at_once = 4;
};

class Engine {
 public:
  // `client` and `store` must outlive the engine. `events`, the client's
  // event sink too, stamps every event and records the timeline; without
  // it the engine records its timeline alone.
  Engine(registry::Client& client, core::ContentStore& store, EngineOptions options, EventStamper& events);
  Engine(registry::Client& client, core::ContentStore& store, EngineOptions options);
  // Waits for every request submitted (a stop request given in the options
  // ends them sooner).
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; the future holds its report or its error (a
  // core::Error of its kind). One request failing does not stop the others.
  [[nodiscard]] std::future<UnpackReport> submit(ImageRequest request);

  // What every request did when (engine/timeline.hpp).
  [[nodiscard]] const Timeline& timeline() const noexcept { return events_.timeline(); }

 private:
  struct Job {
    ImageRequest request;
    ImageTimeline timeline;
    std::future<registry::ResolvedImage> resolving;
    std::promise<UnpackReport> done;
  };
  // Started as the request comes, before any image's layers: resolving is
  // cheap and tells every image's size and layers early.
  std::future<registry::ResolvedImage> start_resolving(const ImageRequest& request);
  void start_workers();
  void work();
  UnpackReport carry_out(Job& job);

  std::unique_ptr<EventStamper> own_events_;  // when not given one
  EventStamper& events_;
  registry::Client& client_;
  core::ContentStore& store_;
  EngineOptions options_;
  LayerBudget layers_;
  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<Job> jobs_;
  bool closing_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace gantry::engine
