#include "engine/engine.hpp"

#include <algorithm>
#include <exception>

namespace gantry::engine {

Engine::Engine(registry::Client& client, core::ContentStore& store, EngineOptions options)
    : client_(client), store_(store), options_(std::move(options)), layers_(options_.unpack.layers_in_flight) {
  const std::size_t workers = std::max<std::size_t>(1, options_.images_at_once);
  for (std::size_t i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  queued_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

std::future<UnpackReport> Engine::submit(ImageRequest request) {
  std::future<UnpackReport> report;
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{.request = std::move(request), .done = {}});
    report = jobs_.back().done.get_future();
  }
  queued_.notify_one();
  return report;
}

void Engine::work() {
  for (;;) {
    std::unique_lock lock(mutex_);
    queued_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // closing, and nothing left
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      job.done.set_value(carry_out(job.request));
    } catch (...) {
      job.done.set_exception(std::current_exception());
    }
  }
}

UnpackReport Engine::carry_out(const ImageRequest& request) {
  switch (request.goal) {
    case Goal::snapshots:
      return unpack_snapshots(client_, store_, request.reference, options_.unpack, layers_);
    case Goal::rootfs:
      return unpack_rootfs(client_, store_, request.reference, request.rootfs, options_.unpack, layers_);
    case Goal::blobs:
      break;
  }
  registry::PullResult pulled = client_.pull(request.reference, store_);
  return UnpackReport{.image = std::move(pulled.image), .fetched = pulled.stats, .seconds = pulled.seconds};
}

}  // namespace gantry::engine
