#pragma once
// Blob downloads: many at once on one thread, each streamed from a reused
// 1 MiB buffer into a sink, resumed with Range after a cut, retried with
// backoff, bounded by the descriptor's size, one per digest at a time.
// Their budget is the Client's: Options::jobs downloads in flight, at most
// jobs_per_host to one host, max_rate bytes per second over all of them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "core/error.hpp"
#include "registry/blob_sink.hpp"
#include "registry/client.hpp"
#include "registry/detail/coro_sync.hpp"
#include "registry/detail/sink_writer.hpp"
#include "registry/detail/rate_limit.hpp"
#include "registry/detail/session.hpp"

namespace gantry::registry::detail {

// Ends a download because another one of the same call failed, or a stop
// was requested (Options::stop). Not a core::Error, so no retry or mirror
// fallback intercepts it; the Client turns it into one at its boundary
// (interrupted_error).
class Cancelled : public std::exception {
 public:
  explicit Cancelled(core::ErrorContext context) : context_(std::move(context)) {}
  [[nodiscard]] const char* what() const noexcept override { return "cancelled"; }
  [[nodiscard]] const core::ErrorContext& context() const noexcept { return context_; }

 private:
  core::ErrorContext context_;
};

// What a Cancelled is to the Client's callers: an io error "interrupted",
// as the engine's own stop fails a pipeline (engine/image_unpack.cpp).
[[nodiscard]] core::Error interrupted_error(const Cancelled& cancelled);

class Fetcher {
 public:
  explicit Fetcher(Session& session);

  // Every blob of `blobs` (from reference's repository) into sinks from
  // `sinks`; options.jobs downloads at once across all calls in flight. A
  // download paused by its sink (SinkFlow::pause) is not one of them: it
  // keeps its connection, idle, and gives its slots back until the sink
  // has room, so that paused downloads never stop the one that would
  // unblock them.
  // After the first error the other downloads stop at their next chunk
  // (keeping what they hold for a resume) and the error is thrown.
  asio::awaitable<FetchStats> fetch_all(const core::Reference& reference, const std::vector<core::Descriptor>& blobs,
                                        BlobSinkFactory& sinks);

  // One document blob (an image config) for the resolver: the same single
  // flight, store lock, retries and mirror fallback as a layer, without the
  // blob events, which describe a pull's layer downloads (the Resolved
  // event that announces them comes after the config).
  asio::awaitable<void> fetch_document(const core::Reference& reference, const core::Descriptor& blob,
                                       BlobSinkFactory& sinks);

 private:
  struct Outcome {
    std::int64_t fetched = 0;
    bool cached = false;
  };
  // What one download is about.
  struct Job {
    const core::Reference& reference;
    const core::Descriptor& blob;
    const bool& stop;  // another download of the same call failed
    bool announce;     // emit blob events
  };
  // The slots a download holds while it reads from one host: one of the
  // client's (`jobs`) and one of that host's (`jobs_per_host`). Every
  // download takes them in this order, so none holds a host's slot while
  // waiting for a client's one.
  struct Held {
    Slots::Permit& job;
    Slots& host_slots;
    Slots::Permit host;
  };
  class BufferLease;
  // A download's two chunk buffers: one being written into the sink while
  // the next is read into the other (SinkWriter).
  using Buffers = std::array<std::span<std::byte>, 2>;

  asio::awaitable<Outcome> fetch_one(Job job, BlobSinkFactory& sinks);
  // nullopt: a mirror sent wrong bytes (now in `distrusted`), which the
  // sink dropped; the blob needs a new sink and the next host.
  asio::awaitable<std::optional<Outcome>> fetch_into(const Job& job, BlobSink& sink, Slots::Permit& permit,
                                                     std::set<std::string>& distrusted);
  // One attempt: the request, then the body from the sink's offset on.
  asio::awaitable<void> download(const Endpoint& endpoint, const Job& job, BlobSink& sink, Buffers buffers,
                                 std::int64_t& fetched, Held& held);
  // The body of an accepted answer, from byte `have` of the blob to its end;
  // returns only once the sink has every chunk it was handed.
  asio::awaitable<void> stream_body(Response& response, const Job& job, BlobSink& sink, Buffers buffers,
                                    std::int64_t have, std::int64_t& fetched, Held& held);
  asio::awaitable<void> read_body(Response& response, const Job& job, BlobSink& sink, SinkWriter& writer,
                                  Buffers buffers, std::int64_t have, std::int64_t& fetched, Held& held);
  // After the sink answered pause: without holding any slot until the sink
  // wakes us, then with both again.
  asio::awaitable<void> wait_for_room(BlobSink& sink, Held& held);
  Slots& host_slots(const std::string& host);
  void announce(const Job& job, core::progress::Event event) const;
  // Throws Cancelled when the call's other download failed or a stop was requested.
  void throw_if_cancelled(const Job& job) const;

  Session& session_;
  Slots slots_;
  std::map<std::string, Slots> per_host_;  // by Endpoint::host; never erased, as permits point into it
  RateLimit rate_;
  SingleFlight flights_;
  std::vector<std::unique_ptr<std::byte[]>> free_buffers_;
  // BlobSinkFactory::open (may re-hash a partial) and BlobSink::finish (may
  // fsync) off the I/O thread, each on its own thread so that neither
  // waits for the other; one opener keeps opens in order, one at a time.
  asio::thread_pool opener_{1};
  asio::thread_pool finisher_{1};
  // BlobSink::write of every download (SinkWriter): as many threads as
  // downloads at once, up to the machine's cores (two at least).
  asio::thread_pool writers_;
};

}  // namespace gantry::registry::detail
