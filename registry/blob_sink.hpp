#pragma once
// Where the fetcher delivers a blob's bytes: in order, chunk by chunk, from
// its own reused buffers. Writes run on the fetcher's writer threads, one at
// a time per sink, while the I/O thread reads the next chunk; so hashing,
// writing and copying never hold up the connections of other downloads. A
// sink that is full answers `pause` and the fetcher stops reading that
// connection (TCP then slows the sender) until the sink calls the wake
// function it was given. The store sink
// (store_sink.hpp) writes to the content store; the engine's tee
// (engine/detail/tee_sink.hpp) feeds a layer's pipeline through the store's
// file and never pauses, so the network never waits for an unpack.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "core/descriptor.hpp"

namespace gantry::registry {

enum class SinkFlow {
  more,   // send the next chunk when it comes
  pause,  // full: call on_ready() and wait for its wake before writing again
};

class BlobSink {
 public:
  virtual ~BlobSink() = default;

  // Bytes the sink already holds (e.g. a partial file of an earlier run);
  // the fetcher asks the server for the rest with a Range request.
  [[nodiscard]] virtual std::int64_t offset() const = 0;

  // The next bytes of the blob, on a writer thread (calls for one sink never
  // overlap, and each sees what the one before did). `bytes` is valid only
  // during the call: copy what must be kept. It may block (a slow disk)
  // without stopping other downloads; a full sink answers pause instead. The fetcher never sends more than the descriptor's
  // size in total. Throwing aborts this blob with that error (no retry).
  virtual SinkFlow write(std::span<const std::byte> bytes) = 0;

  // After write() answered pause: call `wake` (once, from any thread) when
  // there is room again, at once if there already is. `wake` stays safe to
  // call after the fetcher has given up on this blob, as long as the
  // Client that runs the fetch exists.
  virtual void on_ready(std::function<void()> wake) = 0;

  // The server sent the blob from byte 0 although a range was asked (or the
  // range it sent does not fit): drop everything held, offset() becomes 0.
  virtual void restart() = 0;

  // Every byte has been delivered (exactly the descriptor's size): verify
  // the digest and keep the blob. Runs on a helper thread, not the I/O
  // thread, as it may sync to disk. Error(digest_mismatch) when the bytes
  // are wrong; the sink must then have dropped them. When they came from a
  // mirror, the fetcher then opens a new sink for the blob and asks the
  // next host.
  virtual void finish() = 0;

  // A sink destroyed without finish() belongs to a download that failed or
  // was abandoned; what it holds may serve a later resume.
};
using BlobSinkPtr = std::unique_ptr<BlobSink>;

// Opens sinks for descriptors as downloads start.
class BlobSinkFactory {
 public:
  enum class State {
    ready,    // `sink` is set: download into it
    present,  // the blob is already there: nothing to fetch
    busy,     // someone else (another process) is fetching it: ask again later
  };
  struct Opened {
    State state;
    BlobSinkPtr sink;  // only with ready
  };

  virtual ~BlobSinkFactory() = default;
  // Called on a helper thread of the fetcher, so that it may take a while
  // (the store re-hashes a partial file to resume it, ~0.5 s per GB) while
  // the downloads already open keep flowing. Calls come one at a time, in
  // the order the downloads start: an open must not wait for a later one.
  [[nodiscard]] virtual Opened open(const core::Descriptor& blob) = 0;
};

}  // namespace gantry::registry
