#pragma once
// A bounded queue of byte chunks between two stages of a layer's pipeline:
// the layer's feed (its download's file, or its blob in the store) and the
// decoder, or the decoder and the tar reader. Buffers are pooled and reused,
// so the queue allocates only while it first fills up; memory is capacity x
// chunk size, whatever the layer size.
//
// The producer fills a buffer in place: acquire() (blocking while the
// queue is full), then commit(); the decoder writes its output straight
// into the next chunk, a layer's feed reads the download's file into one.
// Either side may fail the queue with an error; the other side then gets
// that error from its next call, so a failure anywhere stops the whole layer.
// The queue sums how long each side waited for the other (the timeline's
// probes of where a layer's time went): two clock reads per wait, none
// when nobody waits.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <vector>

namespace gantry::unpack {

class ChunkQueue {
 public:
  using Buffer = std::vector<std::byte>;
  // A queued chunk: the first `size` bytes of `buffer` (buffers keep their
  // full length so reuse never re-initialises them).
  struct Chunk {
    Buffer buffer;
    std::size_t size = 0;
    [[nodiscard]] std::span<const std::byte> bytes() const { return {buffer.data(), size}; }
  };

  using Clock = std::chrono::steady_clock;
  // Time spent blocked so far, summed.
  struct Waits {
    Clock::duration consumer{};  // pop() with nothing queued: waiting for the producer
    Clock::duration producer{};  // full: acquire() blocked
  };

  ChunkQueue(std::size_t capacity, std::size_t chunk_size);

  // --- producer ---
  // A buffer of chunk_size bytes to fill; blocks while the queue is full.
  [[nodiscard]] Buffer acquire();
  // Queues the first `size` bytes of a buffer from acquire().
  void commit(Buffer buffer, std::size_t size);
  // No more chunks: the consumer's pop() returns false after the last one.
  void close();

  // --- consumer ---
  // The next chunk, blocking; false at the end. Rethrows the queue's error.
  bool pop(Chunk& out);
  // Gives a buffer back to the pool once its bytes are used.
  void recycle(Buffer buffer);

  // --- either side ---
  // Fails the queue: both sides' next calls throw `error`. The first error wins.
  void fail(std::exception_ptr error);
  // Throws the queue's error, if it failed (for a producer that is not
  // pushing yet, e.g. writing ahead into a file).
  void throw_if_failed();
  // The stream is over (both sides are done or gone): frees the pooled and
  // queued buffers, so a finished layer holds no memory.
  void drop_buffers();
  [[nodiscard]] std::size_t chunk_size() const noexcept { return chunk_size_; }
  [[nodiscard]] Waits waits();

 private:
  bool full_locked() const { return queued_.size() >= capacity_; }
  void rethrow_locked() const;
  // changed_.wait(lock, ready), adding the time blocked to `waited`.
  template <class Ready>
  void wait_counted(std::unique_lock<std::mutex>& lock, Clock::duration& waited, Ready ready) {
    if (ready()) return;
    const auto blocked = Clock::now();
    changed_.wait(lock, ready);
    waited += Clock::now() - blocked;
  }

  const std::size_t capacity_;
  const std::size_t chunk_size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Chunk> queued_;
  std::vector<Buffer> pool_;
  Waits waits_;
  bool closed_ = false;
  std::exception_ptr error_;
};

}  // namespace gantry::unpack
