#include "registry/detail/fetcher.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/error.hpp"
#include "registry/detail/content_range.hpp"
#include "registry/detail/errors.hpp"

namespace gantry::registry::detail {

namespace {

using core::Error;
using core::ErrorKind;
namespace progress = core::progress;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Big enough that a fast link costs few wake-ups per second; Response::read
// hands over at least a quarter of it per chunk.
constexpr std::size_t kBufferSize = 1024 * 1024;
// Waiting for another process's download of the same blob.
constexpr std::chrono::milliseconds kBusyFirstWait{50};
constexpr std::chrono::milliseconds kBusyMaxWait{1000};

std::string blob_target(const core::Reference& reference, const core::Descriptor& blob) {
  return "/v2/" + reference.repository + "/blobs/" + blob.digest.string();
}

// A write may block on the disk; with two threads at least, one slow write
// never holds up every other download.
std::size_t writer_threads(int jobs) {
  const std::size_t cores = std::max(2U, std::thread::hardware_concurrency());
  return std::min(cores, static_cast<std::size_t>(std::max(1, jobs)));
}

}  // namespace

Error interrupted_error(const Cancelled& cancelled) {
  return Error(ErrorKind::io, "interrupted", cancelled.context());
}

// A 1 MiB buffer from the fetcher's free list, returned to it afterwards:
// downloads reuse buffers, they do not allocate per blob or per chunk.
class Fetcher::BufferLease {
 public:
  explicit BufferLease(std::vector<std::unique_ptr<std::byte[]>>& free) : free_(free) {
    if (free_.empty()) {
      data_ = std::make_unique_for_overwrite<std::byte[]>(kBufferSize);
    } else {
      data_ = std::move(free_.back());
      free_.pop_back();
    }
  }
  BufferLease(const BufferLease&) = delete;
  BufferLease& operator=(const BufferLease&) = delete;
  ~BufferLease() { free_.push_back(std::move(data_)); }
  [[nodiscard]] std::span<std::byte> span() const { return {data_.get(), kBufferSize}; }

 private:
  std::vector<std::unique_ptr<std::byte[]>>& free_;
  std::unique_ptr<std::byte[]> data_;
};

Fetcher::Fetcher(Session& session)
    : session_(session),
      slots_(session.executor(), std::max(1, session.options().jobs)),
      rate_(session.executor(), session.options().max_rate),
      flights_(session.executor()),
      writers_(writer_threads(session.options().jobs)) {}

Slots& Fetcher::host_slots(const std::string& host) {
  // Without a limit of its own a host gets `jobs` slots, which the client's
  // slots, always taken first, never let it fill.
  const Options& options = session_.options();
  int count = options.jobs_per_host > 0 ? options.jobs_per_host : std::max(1, options.jobs);
  return per_host_.try_emplace(host, session_.executor(), count).first->second;
}

asio::awaitable<FetchStats> Fetcher::fetch_all(const core::Reference& reference, const std::vector<core::Descriptor>& blobs,
                                               BlobSinkFactory& sinks) {
  struct Join {
    explicit Join(const asio::any_io_executor& ex) : all_done(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer all_done;
    std::size_t pending = 0;
    bool stop = false;
    std::exception_ptr error;
    FetchStats stats;
  };
  auto join = std::make_shared<Join>(session_.executor());
  join->pending = blobs.size();
  for (const core::Descriptor& blob : blobs) {
    Job job{reference, blob, join->stop, /*announce=*/true};
    asio::co_spawn(session_.executor(), fetch_one(job, sinks),
                   [join](std::exception_ptr error, Outcome outcome) {
                     if (error) {
                       if (!join->error) join->error = error;
                       join->stop = true;
                     } else if (outcome.cached) {
                       ++join->stats.blobs_cached;
                     } else {
                       ++join->stats.blobs_fetched;
                     }
                     join->stats.bytes_fetched += outcome.fetched;
                     if (--join->pending == 0) join->all_done.cancel();
                   });
  }
  while (join->pending > 0) co_await join->all_done.async_wait(kTuple);
  if (join->error) std::rethrow_exception(join->error);
  co_return join->stats;
}

asio::awaitable<void> Fetcher::fetch_document(const core::Reference& reference, const core::Descriptor& blob,
                                              BlobSinkFactory& sinks) {
  const bool never = false;
  Job job{reference, blob, never, /*announce=*/false};
  (void)co_await fetch_one(job, sinks);
}

void Fetcher::throw_if_cancelled(const Job& job) const {
  if (job.stop || session_.options().stop.stop_requested()) {
    throw Cancelled({.registry = job.reference.registry, .repository = job.reference.repository,
                     .digest = job.blob.digest.string()});
  }
}

void Fetcher::announce(const Job& job, progress::Event event) const {
  if (!job.announce) return;
  // Which image's request this is: the engine stamps the event with it.
  std::visit([&job](auto& e) {
    if constexpr (requires { e.reference; }) e.reference = job.reference.string();
  }, event);
  session_.emit(event);
}

// `job` by value: fetch_all spawns this coroutine and lets it run on.
asio::awaitable<Fetcher::Outcome> Fetcher::fetch_one(Job job, BlobSinkFactory& sinks) {
  // One download per digest in this process: a second one waits for the
  // first and then asks its factory again (which then usually answers
  // present). Whether the first failed does not matter: this one tries.
  const std::string key = job.blob.digest.string();
  while (flights_.active(key)) (void)co_await flights_.wait(key);
  SingleFlight::Guard flight = flights_.begin(key);

  std::set<std::string> distrusted;  // mirrors that sent wrong bytes for this blob
  std::chrono::milliseconds busy_wait = kBusyFirstWait;
  while (true) {
    Slots::Permit permit = co_await slots_.acquire();
    throw_if_cancelled(job);
    BlobSinkFactory::Opened opened = co_await off_thread(opener_, [&sinks, &job] { return sinks.open(job.blob); });
    switch (opened.state) {
      case BlobSinkFactory::State::present:
        announce(job, progress::BlobDone{.digest = job.blob.digest, .fetched = 0, .cached = true});
        co_return Outcome{.fetched = 0, .cached = true};
      case BlobSinkFactory::State::busy:
        // Another process holds the blob's lock: wait without holding a slot.
        permit.release();
        co_await sleep_for(busy_wait);
        busy_wait = std::min(busy_wait * 2, kBusyMaxWait);
        continue;
      case BlobSinkFactory::State::ready: {
        std::optional<Outcome> outcome = co_await fetch_into(job, *opened.sink, permit, distrusted);
        if (outcome) co_return *outcome;
        continue;  // the sink dropped a mirror's wrong bytes: a new one, for the next host
      }
    }
  }
}

asio::awaitable<std::optional<Fetcher::Outcome>> Fetcher::fetch_into(const Job& job, BlobSink& sink,
                                                                     Slots::Permit& permit,
                                                                     std::set<std::string>& distrusted) {
  BufferLease first(free_buffers_);
  BufferLease second(free_buffers_);
  const Buffers buffers{first.span(), second.span()};
  std::int64_t fetched = 0;
  announce(job, progress::BlobStarted{.digest = job.blob.digest, .size = job.blob.size, .resumed_from = sink.offset()});
  std::string target = blob_target(job.reference, job.blob);
  core::ErrorContext context{.registry = job.reference.registry, .repository = job.reference.repository,
                             .digest = job.blob.digest.string()};
  bool dropped = false;
  co_await session_.each_endpoint(job.reference, context, [&](const Endpoint& endpoint) -> asio::awaitable<void> {
    if (distrusted.contains(endpoint.host)) {
      throw Error(ErrorKind::digest_mismatch, "it sent wrong bytes for this blob");
    }
    std::string what = "GET " + endpoint.url(target).string();
    Slots& slots = host_slots(endpoint.host);
    Slots::Permit host = co_await slots.acquire();
    Held held{permit, slots, std::move(host)};
    int attempt = 0;
    co_await session_.retrying(what, session_.attempts(endpoint), [&](int n) {
      attempt = n;
      return download(endpoint, job, sink, buffers, fetched, held);
    });
    // The network part is over: let the next download start while this one
    // is verified and synced.
    held.host.release();
    permit.release();
    try {
      co_await off_thread(finisher_, [&sink] { sink.finish(); });
    } catch (const Error& error) {
      // A mirror is trusted less than the origin: its wrong bytes are a
      // reason to ask the next host, not to fail the pull. The sink has
      // dropped them (BlobSink::finish).
      if (!endpoint.mirror || error.kind() != ErrorKind::digest_mismatch) throw;
      distrusted.insert(endpoint.host);
      dropped = true;
      session_.emit(progress::Retry{.what = what, .attempt = attempt, .delay = std::chrono::milliseconds(0),
                                    .reason = "mirror " + endpoint.host + " sent wrong bytes for " + context.digest +
                                              ", asking the next host: " + error.what(),
                                    .reference = job.reference.string()});
    }
  });
  if (dropped) co_return std::nullopt;
  announce(job, progress::BlobDone{.digest = job.blob.digest, .fetched = fetched, .cached = false});
  co_return Outcome{.fetched = fetched, .cached = false};
}

asio::awaitable<void> Fetcher::download(const Endpoint& endpoint, const Job& job, BlobSink& sink,
                                        Buffers buffers, std::int64_t& fetched, Held& held) {
  const core::Descriptor& blob = job.blob;
  const std::int64_t size = blob.size;
  std::int64_t offset = sink.offset();
  if (offset > size) {
    sink.restart();
    offset = 0;
  }
  if (offset == size) co_return;  // every byte is there already; finish() verifies them

  Headers headers;
  if (offset > 0) headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
  Response response =
      co_await session_.request(endpoint, job.reference.repository, "GET", blob_target(job.reference, blob), headers);
  std::string what = "blob " + blob.digest.string();
  auto start_over = [&](const std::string& why) {
    sink.restart();
    return TransientError(Error(ErrorKind::network, why + "; starting the blob over"));
  };
  switch (response.status()) {
    case 200:
      // The whole blob although a range was asked: the server may do that
      // (RFC 9110 §14.2). Drop what we hold and take it from byte 0.
      if (offset > 0) {
        sink.restart();
        offset = 0;
      }
      break;
    case 206: {
      // Append only the very bytes asked for: from `offset` to the end of a
      // blob of the descriptor's size (RFC 9110 §14.4).
      std::string value(find_header(response.headers(), "Content-Range").value_or(""));
      std::optional<ContentRange> range = parse_content_range(value);
      if (offset == 0 || !range || range->first != offset || range->last != size - 1 ||
          (range->complete_length && *range->complete_length != size)) {
        throw start_over("a request for bytes " + std::to_string(offset) + "- was answered with Content-Range \"" +
                         value + "\"");
      }
      break;
    }
    case 416:
      if (offset > 0) throw start_over("416 Range Not Satisfiable for bytes " + std::to_string(offset) + "-");
      [[fallthrough]];
    default:
      co_await session_.raise(response, what, endpoint);
  }

  // An answer that announces another length than the descriptor's will not
  // get better on a retry (one cut before its end fails in read(), and is
  // resumed): too many bytes is an error, never a truncation, and too few
  // are not the blob.
  if (std::optional<std::int64_t> length = response.content_length(); length && offset + *length != size) {
    std::string from = offset > 0 ? " from byte " + std::to_string(offset) : std::string();
    throw Error(ErrorKind::bad_input, what + " is " + std::to_string(size) + " bytes, the registry sends " +
                                          std::to_string(offset + *length) + " (Content-Length " +
                                          std::to_string(*length) + from + ")");
  }
  co_await stream_body(response, job, sink, buffers, offset, fetched, held);
}

asio::awaitable<void> Fetcher::stream_body(Response& response, const Job& job, BlobSink& sink, Buffers buffers,
                                           std::int64_t have, std::int64_t& fetched, Held& held) {
  SinkWriter writer(writers_, sink);
  std::exception_ptr failed;
  try {
    co_await read_body(response, job, sink, writer, buffers, have, fetched, held);
  } catch (...) {
    failed = std::current_exception();
  }
  // Never out of here while a writer thread still reads one of the buffers
  // or writes into the sink: both belong to the caller.
  if (writer.busy()) {
    try {
      (void)co_await writer.wait();
    } catch (...) {
      if (!failed) failed = std::current_exception();
    }
  }
  if (failed) std::rethrow_exception(failed);
}

asio::awaitable<void> Fetcher::read_body(Response& response, const Job& job, BlobSink& sink, SinkWriter& writer,
                                         Buffers buffers, std::int64_t have, std::int64_t& fetched, Held& held) {
  const core::Descriptor& blob = job.blob;
  const std::int64_t size = blob.size;
  const auto interval = session_.options().progress_interval;
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto last_progress = std::chrono::steady_clock::now();
  bool reported = false;
  for (std::size_t next = 0;; next ^= 1) {
    throw_if_cancelled(job);
    // No more than the rate allows; what the read does not use goes back.
    const std::span<std::byte> buffer = buffers[next];
    std::size_t allowed = co_await rate_.take(buffer.size());
    std::size_t n = co_await response.read(buffer.first(allowed));
    rate_.give_back(allowed - n);
    // The chunk before is in the sink before this one goes (or the body
    // ends); a sink it filled is waited for first.
    if (co_await writer.wait() == SinkFlow::pause) co_await wait_for_room(sink, held);
    if (n == 0) break;
    // More bytes than the descriptor says is an error, never a truncation.
    if (have + static_cast<std::int64_t>(n) > size) {
      throw Error(ErrorKind::bad_input, "the registry sent more than the descriptor's " + std::to_string(size) +
                                            " bytes");
    }
    have += static_cast<std::int64_t>(n);
    fetched += static_cast<std::int64_t>(n);
    // The first bytes at once (the timeline's first_byte, so before the
    // sink has them), then at most one report per interval.
    auto now = std::chrono::steady_clock::now();
    if (!reported || now - last_progress >= interval) {
      announce(job, progress::BlobProgress{.digest = blob.digest, .bytes = have, .size = size});
      last_progress = now;
      reported = true;
    }
    writer.start(buffer.first(n), executor);
  }
  if (have != size) {
    throw TransientError(Error(ErrorKind::network, "the body ended after " + std::to_string(have) + " of " +
                                                       std::to_string(size) + " bytes"));
  }
}

asio::awaitable<void> Fetcher::wait_for_room(BlobSink& sink, Held& held) {
  // The connection stays open and idle meanwhile: the stall timeout only
  // runs while a read is pending (Response::read), so a pause never trips it.
  held.host.release();
  held.job.release();
  auto notifier = std::make_shared<Notifier>(session_.executor());
  sink.on_ready(notifier->waker());
  co_await notifier->wait();
  held.job = co_await slots_.acquire();
  held.host = co_await held.host_slots.acquire();
}

}  // namespace gantry::registry::detail
