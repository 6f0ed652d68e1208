#pragma once
// One layer's compressed bytes on their way into its pipeline, and when
// they may flow. Every layer of an image has one from the start, which is
// cheap (an empty queue, no thread); its feed (the replay of its
// download's partial file, or its blob read from the store) runs on a
// thread of its own only once the layer is admitted: image_unpack.cpp runs
// a bounded number of layers at once, so threads and buffers follow the
// layers in flight, not the image's layer count. Internal to the engine.

#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "unpack/chunk_queue.hpp"

namespace gantry::engine::detail {

class LayerInput {
 public:
  using Feed = std::function<void(unpack::ChunkQueue&)>;

  LayerInput();
  ~LayerInput();  // finish()
  LayerInput(const LayerInput&) = delete;
  LayerInput& operator=(const LayerInput&) = delete;

  // The pipeline's input (LayerPipeline's `input`).
  [[nodiscard]] unpack::ChunkQueue& queue() noexcept { return *queue_; }

  // What fills the queue, once: it runs on the layer's own thread as soon
  // as the layer is admitted (at once if it is already).
  void feed_with(Feed feed);
  // The layer's pipeline runs: the feed may start.
  void admit();
  // Nobody will read this layer's bytes (its snapshot turned up complete):
  // no feed runs.
  void abandon();
  // After the pipeline ended: waits for the feed (which ends with it: its
  // queue calls fail or the stream is over) and frees the queue's buffers.
  void finish();

 private:
  enum class State { waiting, admitted, abandoned };
  void start_locked();

  std::unique_ptr<unpack::ChunkQueue> queue_;
  std::mutex mutex_;
  State state_ = State::waiting;
  Feed feed_;
  std::thread thread_;
};

}  // namespace gantry::engine::detail
