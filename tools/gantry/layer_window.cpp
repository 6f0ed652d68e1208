#include "tools/gantry/layer_window.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace gantry::tools {

std::size_t layers_in_flight(int jobs) { return static_cast<std::size_t>(std::max(1, jobs)); }

LayerWindow::LayerWindow(std::size_t count, std::size_t limit, LayerSteps steps)
    : count_(count), limit_(std::max<std::size_t>(1, limit)), steps_(std::move(steps)) {
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
    ++finished;
  };
  while (started < count_ && !failure_) {
    if (started - finished == limit_) {
      finish_lowest();
      continue;
    }
    try {
      steps_.start(started);
    } catch (...) {
      failed(std::current_exception());
    }
    ++started;  // finish() copes with a layer whose start failed half way
  }
  while (finished < started) finish_lowest();
}

}  // namespace gantry::tools
