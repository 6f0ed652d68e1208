#include "engine/layer_window.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace gantry::engine {

std::size_t layers_in_flight(int jobs) { return static_cast<std::size_t>(std::max(1, jobs)); }

LayerBudget::LayerBudget(std::size_t places) : free_(std::max<std::size_t>(1, places)) {}

void LayerBudget::take() {
  std::unique_lock lock(mutex_);
  freed_.wait(lock, [this] { return free_ > 0; });
  --free_;
}

bool LayerBudget::try_take() {
  std::lock_guard lock(mutex_);
  if (free_ == 0) return false;
  --free_;
  return true;
}

void LayerBudget::give_back() {
  {
    std::lock_guard lock(mutex_);
    ++free_;
  }
  freed_.notify_one();
}

LayerWindow::LayerWindow(std::size_t count, std::size_t limit, LayerBudget& budget, LayerSteps steps)
    : count_(count), limit_(std::max<std::size_t>(1, limit)), budget_(budget), steps_(std::move(steps)) {
  thread_ = std::thread([this] { run(); });
}

LayerWindow::~LayerWindow() {
  if (!thread_.joinable()) return;
  steps_.stop_all(std::make_exception_ptr(core::Error(core::ErrorKind::io, "layer unpack abandoned")));
  thread_.join();
}

std::exception_ptr LayerWindow::join() {
  thread_.join();
  return failure_;
}

void LayerWindow::run() {
  std::size_t started = 0;
  std::size_t finished = 0;
  auto failed = [&](std::exception_ptr error) {
    if (failure_) return;
    failure_ = std::move(error);
    steps_.stop_all(failure_);
  };
  auto finish_lowest = [&] {
    try {
      steps_.finish(finished);
    } catch (...) {
      failed(std::current_exception());
    }
    budget_.give_back();
    ++finished;
  };
  while (started < count_ && !failure_) {
    const bool in_flight = started > finished;
    if (started - finished == limit_ || (in_flight && !budget_.try_take())) {
      finish_lowest();
      continue;
    }
    if (!in_flight) budget_.take();
    try {
      steps_.start(started);
    } catch (...) {
      failed(std::current_exception());
    }
    ++started;  // finish() copes with a layer whose start failed half way
  }
  while (finished < started) finish_lowest();
}

}  // namespace gantry::engine
