#include "registry/client.hpp"

#include <chrono>
#include <exception>

#include <boost/asio/co_spawn.hpp>
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
        resolver(session, fetcher) {}

  // Runs one piece of work on the calling thread until it is done.
  template <class T>
  T run(asio::awaitable<T> work) {
    std::optional<T> result;
    std::exception_ptr error;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(work)); },
        [&](std::exception_ptr e) { error = e; });
    io.restart();
    io.run();
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }

  asio::awaitable<PullResult> pull_one(const core::Reference& reference, core::ContentStore& store);

  Options options;
  asio::io_context io{1};
  detail::Session session;
  detail::Fetcher fetcher;
  detail::Resolver resolver;
};

asio::awaitable<PullResult> Client::Impl::pull_one(const core::Reference& reference, core::ContentStore& store) {
  auto started = std::chrono::steady_clock::now();
  ResolvedImage image = co_await resolver.resolve(reference, &store);

  std::int64_t total = image.manifest.config.size;
  for (const core::Descriptor& layer : image.manifest.layers) {
    // A layer gantry could not unpack fails the pull now, naming its type.
    (void)core::media_type::layer_compression(layer.media_type);
    total += layer.size;
  }
  session.emit(progress::Resolved{.reference = reference.string(),
                                  .manifest_digest = image.manifest_descriptor.digest,
                                  .media_type = image.manifest_descriptor.media_type,
                                  .platform = image.platform,
                                  .layers = image.manifest.layers.size(),
                                  .total_bytes = total});

  // Documents first (each verified again by put_blob; the config is in the
  // store already), layers next, and the name last: a ref in index.json
  // always points at a complete image.
  auto keep = [&](const core::Descriptor& descriptor, const std::string& bytes) {
    if (!store.has_blob(descriptor.digest)) store.put_blob(descriptor.digest, bytes);
  };
  if (image.index_descriptor) keep(*image.index_descriptor, image.index_bytes);
  keep(image.manifest_descriptor, image.manifest_bytes);

  StoreSinkFactory sinks(store);
  FetchStats stats = co_await fetcher.fetch_all(reference, image.manifest.layers, sinks);
  store.set_ref(reference.string(), image.manifest_descriptor);
  std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
  co_return PullResult{.image = std::move(image), .stats = stats, .seconds = seconds.count()};
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

std::optional<ResolvedImage> Client::resolve_stored(const core::Reference& reference,
                                                   const core::ContentStore& store) const {
  std::optional<core::Descriptor> stored = store.find_ref(reference.string());
  if (!stored || !core::media_type::is_manifest(stored->media_type)) return std::nullopt;
  std::string manifest_bytes = store.read_blob(stored->digest, core::kMaxManifestSize);
  core::Manifest manifest = core::parse_manifest(manifest_bytes, stored->media_type);
  std::string config_bytes = store.read_blob(manifest.config.digest, core::kMaxConfigSize);
  core::ImageConfig config = core::parse_config(config_bytes);
  core::Platform platform = stored->platform ? *stored->platform : config.platform;
  if (!core::matches(impl_->options.platform.value_or(core::Platform::host()), platform)) return std::nullopt;
  return ResolvedImage{.reference = reference,
                       .index_descriptor = std::nullopt,
                       .index_bytes = {},
                       .index = std::nullopt,
                       .manifest_descriptor = std::move(*stored),
                       .manifest_bytes = std::move(manifest_bytes),
                       .manifest = std::move(manifest),
                       .config_bytes = std::move(config_bytes),
                       .config = std::move(config),
                       .platform = std::move(platform)};
}

namespace {

progress::Done done_event(const FetchStats& stats, std::chrono::steady_clock::time_point started) {
  std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
  return progress::Done{.bytes_fetched = stats.bytes_fetched,
                        .blobs_fetched = stats.blobs_fetched,
                        .blobs_cached = stats.blobs_cached,
                        .seconds = seconds.count()};
}

}  // namespace

PullResult Client::pull(const core::Reference& reference, core::ContentStore& store) {
  auto started = std::chrono::steady_clock::now();
  PullResult result = impl_->run(impl_->pull_one(reference, store));
  impl_->session.emit(done_event(result.stats, started));
  return result;
}

std::vector<PullOutcome> Client::pull(std::span<const core::Reference> references, core::ContentStore& store) {
  auto started = std::chrono::steady_clock::now();
  std::vector<PullOutcome> outcomes;
  outcomes.reserve(references.size());
  for (const core::Reference& reference : references) outcomes.push_back(PullOutcome{reference, {}, {}});
  std::exception_ptr unexpected;  // not a core::Error: a bug, not an outcome
  for (PullOutcome& outcome : outcomes) {
    asio::co_spawn(
        impl_->io,
        [&]() -> asio::awaitable<void> {
          try {
            outcome.result.emplace(co_await impl_->pull_one(outcome.reference, store));
          } catch (const core::Error& e) {
            outcome.error = e;
          }
        },
        [&](std::exception_ptr error) {
          if (error && !unexpected) unexpected = error;
        });
  }
  impl_->io.restart();
  impl_->io.run();
  if (unexpected) std::rethrow_exception(unexpected);
  FetchStats total;
  for (const PullOutcome& outcome : outcomes) {
    if (!outcome.result) continue;
    total.bytes_fetched += outcome.result->stats.bytes_fetched;
    total.blobs_fetched += outcome.result->stats.blobs_fetched;
    total.blobs_cached += outcome.result->stats.blobs_cached;
  }
  impl_->session.emit(done_event(total, started));
  return outcomes;
}

FetchStats Client::fetch_blobs(const core::Reference& repository, std::span<const core::Descriptor> blobs,
                               BlobSinkFactory& sinks) {
  auto started = std::chrono::steady_clock::now();
  FetchStats stats =
      impl_->run(impl_->fetcher.fetch_all(repository, std::vector<core::Descriptor>(blobs.begin(), blobs.end()), sinks));
  impl_->session.emit(done_event(stats, started));
  return stats;
}

}  // namespace gantry::registry
