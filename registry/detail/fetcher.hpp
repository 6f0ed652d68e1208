#pragma once
// Blob downloads: many at once on one thread, each streamed from a reused
// 1 MiB buffer into a sink, resumed with Range after a cut, retried with
// backoff, bounded by the descriptor's size, one per digest at a time.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "registry/blob_sink.hpp"
#include "registry/client.hpp"
#include "registry/detail/coro_sync.hpp"
#include "registry/detail/session.hpp"

namespace gantry::registry::detail {

class Fetcher {
 public:
  explicit Fetcher(Session& session);

  // Every blob of `blobs` (from reference's repository) into sinks from
  // `sinks`; options.jobs downloads at once across all calls in flight.
  // After the first error the other downloads stop at their next chunk
  // (keeping what they hold for a resume) and the error is thrown.
  asio::awaitable<FetchStats> fetch_all(const core::Reference& reference, const std::vector<core::Descriptor>& blobs,
                                        BlobSinkFactory& sinks);

 private:
  struct Outcome {
    std::int64_t fetched = 0;
    bool cached = false;
  };
  class BufferLease;

  asio::awaitable<Outcome> fetch_one(const core::Reference& reference, const core::Descriptor& blob,
                                     BlobSinkFactory& sinks, const bool& stop);
  asio::awaitable<Outcome> fetch_into(const core::Reference& reference, const core::Descriptor& blob, BlobSink& sink,
                                      Slots::Permit& permit, const bool& stop);
  asio::awaitable<void> download(const Endpoint& endpoint, const core::Reference& reference,
                                 const core::Descriptor& blob, BlobSink& sink, std::span<std::byte> buffer,
                                 std::int64_t& fetched, const bool& stop);
  // BlobSink::finish() on the helper thread: it may fsync.
  asio::awaitable<void> finish(BlobSink& sink);

  Session& session_;
  Slots slots_;
  SingleFlight flights_;
  std::vector<std::unique_ptr<std::byte[]>> free_buffers_;
  asio::thread_pool finisher_{1};
};

}  // namespace gantry::registry::detail
