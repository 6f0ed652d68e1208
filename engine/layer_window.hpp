#pragma once
// How many layers of an image unpack at once, and in which order. Each
// layer in flight holds four threads (decoder, hasher, tar reader, feed)
// and a few MiB of queues; a layer waiting holds neither (its download, if
// any, goes into the store's partial file meanwhile: tee_sink.hpp). So
// threads and buffers follow the window, never the image's layer count.
// The engine uses it for every image.

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace gantry::engine {

// The most layers an image may have for gantry to take it (every request
// of the engine: refuse_too_many_layers), refused before any layer is
// fetched. Docker builds stop at 125 layers and overlayfs stacks at most
// 500 lower directories (beyond that `run` falls back to a flattened copy); 1000
// leaves room for any real image while bounding the per-image work that
// does grow with the count: chain IDs, the manifest, and the look-ups of a
// snapshot's hardlink targets and parents through every snapshot below it.
inline constexpr std::size_t kMaxLayers = 1000;

// Layers in flight for `jobs` downloads at once: as many as downloads.
// Layers above the lowest one in flight may wait for it (a flattened layer
// applies after the one below) while their downloads go on into the
// store's partial files (detail/tee_sink.hpp). More layers in flight than
// downloads would only hold decoders and buffers that wait.
[[nodiscard]] std::size_t layers_in_flight(int jobs);

// Places for layers in flight, shared by every image of an engine: a layer
// holds one from its start to its finish, so threads and buffers follow the
// budget whatever the number of images.
class LayerBudget {
 public:
  explicit LayerBudget(std::size_t places);
  LayerBudget(const LayerBudget&) = delete;
  LayerBudget& operator=(const LayerBudget&) = delete;

  void take();  // waits for a place
  [[nodiscard]] bool try_take();
  void give_back();

 private:
  std::mutex mutex_;
  std::condition_variable freed_;
  std::size_t free_;
};

struct LayerSteps {
  std::function<void(std::size_t)> start;   // layer i's pipeline starts (admitted)
  std::function<void(std::size_t)> finish;  // waits for layer i, frees what it held; throws its error
  std::function<void(std::exception_ptr)> stop_all;  // at the first failure: fail every layer's input
};

// Runs `count` layers' steps on a thread of its own: layer i starts once
// every layer below it has started, fewer than `limit` are in flight and
// it has a place in `budget`, and the lowest layer in flight is waited for
// first. The lowest layer never waits for one above it, so the window
// always moves; a later layer never holds a place an earlier one needs. A
// window that finds the budget spent while it has layers in flight
// finishes its lowest one instead of waiting for a place: a window never
// waits for a place while holding one, so windows of many images never
// wait for each other in a circle.
class LayerWindow {
 public:
  LayerWindow(std::size_t count, std::size_t limit, LayerBudget& budget, LayerSteps steps);
  // Joins; when join() was not called (an exception elsewhere), every layer
  // is stopped first.
  ~LayerWindow();
  LayerWindow(const LayerWindow&) = delete;
  LayerWindow& operator=(const LayerWindow&) = delete;

  // Waits until every started layer is finished; the first failure, if any.
  [[nodiscard]] std::exception_ptr join();

 private:
  void run();

  std::size_t count_;
  std::size_t limit_;
  LayerBudget& budget_;
  LayerSteps steps_;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace gantry::engine
