#include "engine/engine.hpp"

#include <algorithm>
#include <exception>

#include "core/error.hpp"
#include "engine/stored_image.hpp"

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
    std::future<registry::ResolvedImage> resolving = start_resolving(request.reference);
    jobs_.push_back(Job{.request = std::move(request), .resolving = std::move(resolving), .done = {}});
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
      job.done.set_value(carry_out(job));
    } catch (...) {
      job.done.set_exception(std::current_exception());
    }
  }
}

std::future<registry::ResolvedImage> Engine::start_resolving(const core::Reference& reference) {
  const PullPolicy policy = options_.unpack.pull;
  std::promise<registry::ResolvedImage> known;
  try {
    if (policy != PullPolicy::always) {
      if (auto stored = resolve_stored(reference, store_, options_.unpack.platform)) {
        known.set_value(std::move(*stored));
        return known.get_future();
      }
    }
    if (policy == PullPolicy::never) {
      throw core::Error(core::ErrorKind::not_found, "the image is not in the store (and --pull never)",
                        {.registry = reference.registry, .repository = reference.repository});
    }
  } catch (...) {
    known.set_exception(std::current_exception());
    return known.get_future();
  }
  return client_.start_resolve(reference, store_);
}

UnpackReport Engine::carry_out(Job& job) {
  using Clock = std::chrono::steady_clock;
  const ImageRequest& request = job.request;
  const auto picked = Clock::now();
  registry::ResolvedImage image = job.resolving.get();
  // What this request waited for its documents once it was its turn.
  const double resolve_seconds = std::chrono::duration<double>(Clock::now() - picked).count();
  UnpackReport report = [&] {
    switch (request.goal) {
      case Goal::snapshots:
        return unpack_snapshots(client_, store_, image, options_.unpack, layers_);
      case Goal::rootfs:
        return unpack_rootfs(client_, store_, image, request.rootfs, options_.unpack, layers_);
      case Goal::blobs:
        break;
    }
    registry::PullResult pulled = client_.pull(std::move(image), store_);
    return UnpackReport{.image = std::move(pulled.image), .fetched = pulled.stats, .seconds = pulled.seconds};
  }();
  report.resolve_seconds = resolve_seconds;
  report.seconds += resolve_seconds;
  report.ready_seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  return report;
}

}  // namespace gantry::engine
