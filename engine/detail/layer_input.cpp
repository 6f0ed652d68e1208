#include "engine/detail/layer_input.hpp"

#include "unpack/layer_pipeline.hpp"

namespace gantry::engine::detail {

LayerInput::LayerInput() : queue_(unpack::LayerPipeline::make_input()) {}

LayerInput::~LayerInput() { finish(); }

void LayerInput::feed_with(Feed feed) {
  std::lock_guard lock(mutex_);
  feed_ = std::move(feed);
  start_locked();
}

void LayerInput::admit() {
  std::lock_guard lock(mutex_);
  if (state_ == State::waiting) state_ = State::admitted;
  start_locked();
}

void LayerInput::abandon() {
  std::lock_guard lock(mutex_);
  state_ = State::abandoned;
}

void LayerInput::start_locked() {
  if (state_ != State::admitted || !feed_ || thread_.joinable()) return;
  thread_ = std::thread([feed = std::move(feed_), &queue = *queue_] { feed(queue); });
}

void LayerInput::finish() {
  std::thread feeding;
  {
    std::lock_guard lock(mutex_);
    feeding = std::move(thread_);
  }
  if (feeding.joinable()) feeding.join();
  queue_->drop_buffers();
}

}  // namespace gantry::engine::detail
