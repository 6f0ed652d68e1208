#pragma once
// A download's chunks into its sink on the fetcher's writer threads, not on
// the I/O thread: BlobSink::write hashes, writes to the store's file or
// copies into an unpack queue, which for several downloads at once (or
// behind TLS) would make the one I/O thread their common ceiling. One write
// is in flight per download, in order; the fetcher reads the next chunk
// into its other buffer meanwhile.

#include <exception>
#include <memory>
#include <span>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "registry/blob_sink.hpp"
#include "registry/detail/coro_sync.hpp"

namespace gantry::registry::detail {

namespace asio = boost::asio;

// It must not be destroyed while busy(): its owner waits for the write in
// flight on every way out, errors included (Fetcher::stream_body).
class SinkWriter {
 public:
  SinkWriter(asio::thread_pool& writers, BlobSink& sink) : writers_(writers), sink_(sink) {}
  SinkWriter(const SinkWriter&) = delete;
  SinkWriter& operator=(const SinkWriter&) = delete;

  // Starts sink.write(bytes) on a writer thread. `bytes` must stay as they
  // are until wait() returned; nothing may be in flight (busy() is false).
  // Called on the I/O thread, from a coroutine of its executor.
  void start(std::span<const std::byte> bytes, asio::any_io_executor executor);

  [[nodiscard]] bool busy() const { return notifier_ != nullptr; }

  // Until the write in flight is done: its answer, or the exception it threw.
  asio::awaitable<SinkFlow> wait();

 private:
  asio::thread_pool& writers_;
  BlobSink& sink_;
  std::shared_ptr<Notifier> notifier_;  // set while a write is in flight
  // Written by the writer thread before it wakes the notifier, read after.
  SinkFlow flow_ = SinkFlow::more;
  std::exception_ptr error_;
};

}  // namespace gantry::registry::detail
