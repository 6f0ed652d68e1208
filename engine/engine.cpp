#include "engine/engine.hpp"

#include <algorithm>
#include <exception>

#include "core/error.hpp"
#include "engine/stored_image.hpp"

namespace gantry::engine {

namespace {

// The image_failed event of a request that ended with `error`.
core::progress::ImageFailed failed_event(const core::Reference& reference, const std::exception_ptr& error) {
  core::progress::ImageFailed failed{.reference = reference.string(), .kind = "internal", .error = {}};
  try {
    std::rethrow_exception(error);
  } catch (const core::Error& e) {
    failed.kind = std::string(core::to_string(e.kind()));
    failed.error = e.what();
  } catch (const std::exception& e) {
    failed.error = e.what();
  }
  return failed;
}

}  // namespace

Engine::Engine(registry::Client& client, core::ContentStore& store, EngineOptions options)
    : own_events_(std::make_unique<EventStamper>()),
      events_(*own_events_),
      client_(client),
      store_(store),
      options_(std::move(options)),
      layers_(options_.unpack.layers_in_flight) {
  start_workers();
}

Engine::Engine(registry::Client& client, core::ContentStore& store, EngineOptions options, EventStamper& events)
    : events_(events), client_(client), store_(store), options_(std::move(options)),
      layers_(options_.unpack.layers_in_flight) {
  start_workers();
}

void Engine::start_workers() {
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
    ImageTimeline timeline = events_.track(request.reference.string());
    std::future<registry::ResolvedImage> resolving = start_resolving(request);
    jobs_.push_back(Job{.request = std::move(request), .timeline = timeline, .resolving = std::move(resolving), .done = {}});
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
    // The image's timeline goes out before its outcome (carry_out sends it
    // when it succeeds): a command renders its own last events (unpacked,
    // prewarm's summary) only once the outcome is in.
    try {
      job.done.set_value(carry_out(job));
    } catch (...) {
      events_.on_event(failed_event(job.request.reference, std::current_exception()));
      events_.on_event(times_event(job.timeline.record()));
      job.done.set_exception(std::current_exception());
    }
  }
}

std::future<registry::ResolvedImage> Engine::start_resolving(const ImageRequest& request) {
  const core::Reference& reference = request.reference;
  const PullPolicy policy = options_.unpack.pull;
  std::promise<registry::ResolvedImage> known;
  try {
    if (policy != PullPolicy::always) {
      if (auto stored = resolve_stored(reference, store_, request.platform.value_or(options_.unpack.platform))) {
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
  return client_.start_resolve(reference, store_, request.platform);
}

UnpackReport Engine::carry_out(Job& job) {
  using Clock = std::chrono::steady_clock;
  const ImageRequest& request = job.request;
  const auto picked = Clock::now();
  registry::ResolvedImage image = job.resolving.get();
  // What this request waited for its documents once it was its turn.
  const double resolve_seconds = std::chrono::duration<double>(Clock::now() - picked).count();
  if (image.auth_at) job.timeline.mark(ImagePhase::auth, *image.auth_at);
  if (image.manifest_at) job.timeline.mark(ImagePhase::manifest, *image.manifest_at);
  if (image.config_at) job.timeline.mark(ImagePhase::config, *image.config_at);
  job.timeline.mark(ImagePhase::resolve);
  refuse_too_many_layers(image);
  events_.resolved(job.timeline, image);
  // A pull announces its image itself (registry::Client::pull).
  if (request.goal != Goal::blobs) events_.on_event(registry::resolved_event(image));
  UnpackReport report = [&] {
    switch (request.goal) {
      case Goal::snapshots:
        return unpack_snapshots(client_, store_, image, options_.unpack, layers_, job.timeline);
      case Goal::rootfs:
        return unpack_rootfs(client_, store_, image, request.rootfs, options_.unpack, layers_, job.timeline);
      case Goal::blobs:
        break;
    }
    registry::PullResult pulled = client_.pull(std::move(image), store_);
    return UnpackReport{.image = std::move(pulled.image), .fetched = pulled.stats, .seconds = pulled.seconds};
  }();
  report.resolve_seconds = resolve_seconds;
  report.seconds += resolve_seconds;
  events_.on_event(times_event(job.timeline.record()));
  report.ready_seconds = events_.timeline().seconds(Clock::now());  // the events' clock
  return report;
}

}  // namespace gantry::engine
