#include "registry/client.hpp"

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "core/media_types.hpp"
#include "registry/detail/fetcher.hpp"
#include "registry/detail/resolver.hpp"
#include "registry/detail/session.hpp"
#include "registry/store_sink.hpp"

namespace gantry::registry {

namespace asio = boost::asio;
namespace progress = core::progress;

struct Client::Impl {
  Impl(Options opts, progress::EventSink* sink)
      : options(std::move(opts)),
        session(io.get_executor(), options, sink),
        fetcher(session),
        resolver(session, fetcher),
        io_thread([this] { io.run(); }) {}

  ~Impl() {
    idle.reset();
    io_thread.join();
  }

  // Runs one piece of work on the I/O thread and waits for it: calls from
  // several threads at once share the thread, the connections, the tokens
  // and the download slots.
  template <class T>
  T run(asio::awaitable<T> work) {
    return start(std::move(work)).get();
  }

  // The same without waiting: the work's result, once it is done.
  template <class T>
  std::future<T> start(asio::awaitable<T> work) {
    auto done = std::make_shared<std::promise<T>>();
    std::future<T> result = done->get_future();
    asio::co_spawn(
        io,
        [done, work = std::move(work)]() mutable -> asio::awaitable<void> {
          try {
            done->set_value(co_await std::move(work));
          } catch (const detail::Cancelled& cancelled) {
            // Never a stray exception type out of the client.
            done->set_exception(std::make_exception_ptr(detail::interrupted_error(cancelled)));
          } catch (...) {
            done->set_exception(std::current_exception());
          }
        },
        asio::detached);
    return result;
  }

  // A Done event for the call that began at `started`, in order with the
  // call's other events (they are all emitted on the I/O thread).
  void emit_done(std::string reference, const FetchStats& stats,
                 std::chrono::steady_clock::time_point started);

  asio::awaitable<PullResult> pull_one(const core::Reference& reference, core::ContentStore& store);
  asio::awaitable<PullResult> pull_resolved(ResolvedImage image, core::ContentStore& store);

  Options options;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> idle = asio::make_work_guard(io);
  detail::Session session;
  detail::Fetcher fetcher;
  detail::Resolver resolver;
  std::thread io_thread;  // last: it starts once everything it runs exists
};

asio::awaitable<PullResult> Client::Impl::pull_one(const core::Reference& reference, core::ContentStore& store) {
  auto started = std::chrono::steady_clock::now();
  ResolvedImage image = co_await resolver.resolve(reference, &store);
  PullResult result = co_await pull_resolved(std::move(image), store);
  std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
  result.seconds = seconds.count();
  co_return result;
}

asio::awaitable<PullResult> Client::Impl::pull_resolved(ResolvedImage image, core::ContentStore& store) {
  auto started = std::chrono::steady_clock::now();
  for (const core::Descriptor& layer : image.manifest.layers) {
    // A layer gantry could not unpack fails the pull now, naming its type.
    (void)core::media_type::layer_compression(layer.media_type);
  }
  session.emit(resolved_event(image));

  // Documents first (each verified again by put_blob; the config is in the
  // store already), layers next, and the name last: a ref in index.json
  // always points at a complete image.
  auto keep = [&](const core::Descriptor& descriptor, const std::string& bytes) {
    if (!store.has_blob(descriptor.digest)) store.put_blob(descriptor.digest, bytes);
  };
  if (image.index_descriptor) keep(*image.index_descriptor, image.index_bytes);
  keep(image.manifest_descriptor, image.manifest_bytes);

  StoreSinkFactory sinks(store);
  FetchStats stats = co_await fetcher.fetch_all(image.reference, image.manifest.layers, sinks);
  store.set_ref(image.reference.string(), recorded_descriptor(image));
  std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
  co_return PullResult{.image = std::move(image), .stats = stats, .seconds = seconds.count()};
}

const core::Descriptor& recorded_descriptor(const ResolvedImage& image) {
  return image.index_descriptor ? *image.index_descriptor : image.manifest_descriptor;
}

progress::Resolved resolved_event(const ResolvedImage& image) {
  std::int64_t total = image.manifest.config.size;
  for (const core::Descriptor& layer : image.manifest.layers) total += layer.size;
  return progress::Resolved{.reference = image.reference.string(),
                            .manifest_digest = image.manifest_descriptor.digest,
                            .index_digest = image.index_descriptor
                                                ? std::optional(image.index_descriptor->digest)
                                                : std::nullopt,
                            .media_type = image.manifest_descriptor.media_type,
                            .platform = image.platform,
                            .layers = image.manifest.layers.size(),
                            .total_bytes = total};
}

Client::Client(Options options, progress::EventSink* events)
    : impl_(std::make_unique<Impl>(std::move(options), events)) {}

Client::~Client() = default;

ResolvedImage Client::resolve(const core::Reference& reference) {
  return impl_->run(impl_->resolver.resolve(reference, nullptr));
}

ResolvedImage Client::resolve(const core::Reference& reference, core::ContentStore& store) {
  return impl_->run(impl_->resolver.resolve(reference, &store));
}

std::future<ResolvedImage> Client::start_resolve(core::Reference reference, core::ContentStore& store,
                                                 std::optional<core::Platform> platform) {
  // The reference lives in the coroutine's frame: the caller need not keep it.
  auto resolving = [](Impl& impl, core::Reference ref, core::ContentStore& in,
                      std::optional<core::Platform> wanted) -> asio::awaitable<ResolvedImage> {
    co_return co_await impl.resolver.resolve(ref, &in, std::move(wanted));
  };
  return impl_->start(resolving(*impl_, std::move(reference), store, std::move(platform)));
}

std::future<std::vector<core::Platform>> Client::start_platforms(core::Reference reference,
                                                                const core::ContentStore& store) {
  auto asking = [](Impl& impl, core::Reference ref,
                   const core::ContentStore& in) -> asio::awaitable<std::vector<core::Platform>> {
    co_return co_await impl.resolver.platforms(ref, &in);
  };
  return impl_->start(asking(*impl_, std::move(reference), store));
}

PullResult Client::pull(ResolvedImage image, core::ContentStore& store) {
  auto started = std::chrono::steady_clock::now();
  PullResult result = impl_->run(impl_->pull_resolved(std::move(image), store));
  impl_->emit_done(result.image.reference.string(), result.stats, started);
  return result;
}

void Client::Impl::emit_done(std::string reference, const FetchStats& stats,
                             std::chrono::steady_clock::time_point started) {
  std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
  auto done = progress::Done{.reference = std::move(reference),
                             .bytes_fetched = stats.bytes_fetched,
                             .blobs_fetched = stats.blobs_fetched,
                             .blobs_cached = stats.blobs_cached,
                             .seconds = seconds.count()};
  // On the I/O thread, and before the call returns: after every event of the call.
  auto emitting = [this, &done]() -> asio::awaitable<bool> {
    session.emit(done);
    co_return true;
  };
  run(emitting());
}

PullResult Client::pull(const core::Reference& reference, core::ContentStore& store) {
  auto started = std::chrono::steady_clock::now();
  PullResult result = impl_->run(impl_->pull_one(reference, store));
  impl_->emit_done(reference.string(), result.stats, started);
  return result;
}

FetchStats Client::fetch_blobs(const core::Reference& repository, std::span<const core::Descriptor> blobs,
                               BlobSinkFactory& sinks) {
  auto started = std::chrono::steady_clock::now();
  FetchStats stats =
      impl_->run(impl_->fetcher.fetch_all(repository, std::vector<core::Descriptor>(blobs.begin(), blobs.end()), sinks));
  impl_->emit_done(repository.string(), stats, started);
  return stats;
}

}  // namespace gantry::registry
