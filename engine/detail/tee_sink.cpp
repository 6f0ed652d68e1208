#include "engine/detail/tee_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::engine::detail {

using core::Error;
using core::ErrorKind;

void Download::settle(std::exception_ptr error) {
  if (settled) return;
  settled = true;
  if (error) {
    committed.set_exception(error);
  } else {
    committed.set_value();
  }
}

namespace {

using namespace std::chrono_literals;

// The feed of a download's pipeline, shared by the sink (the fetcher's
// writer threads) and the layer's feed thread. The sink only appends to
// the store's partial file; the feed reads what is there into the pipeline
// at the pipeline's pace. So a pipeline that is full (a flattened upper
// layer waiting for the one below) never pauses the download: its bytes
// wait in the page cache, not in memory of ours, and the connection keeps
// its rate. The file is cut only by restart(), under the mutex, which the
// feed holds while it reads; the sink holds it while the store commits
// (renames) the file, so the feed opens the partial file or the committed
// blob, never a name in between.
enum class ReplayState {
  deferred,   // the layer is not admitted: no feed yet
  replaying,  // the feed thread reads the file into the pipeline
  stopped,    // the download failed or ended badly: the feed ends
  failed,     // the pipeline (or the file) failed the feed: so does the download
};

struct Replay {
  std::mutex mutex;
  std::condition_variable grown;  // more bytes in the file, complete, or stopped
  std::filesystem::path partial;
  std::filesystem::path blob;
  core::FileHandle file;        // opened at the first read, reopened after a restart
  std::int64_t in_file = 0;     // bytes in the file
  std::int64_t fed = 0;         // bytes in the pipeline: a prefix of the blob
  ReplayState state = ReplayState::deferred;
  std::exception_ptr error;     // with failed
  bool complete = false;        // every byte is in the file and verified

  // Ends the feed with `failure`; the download's next write throws it.
  void fail(std::exception_ptr failure) {
    std::lock_guard lock(mutex);
    if (state == ReplayState::replaying) {
      state = ReplayState::failed;
      error = std::move(failure);
    }
  }
};

// How often a feed waiting for bytes looks whether its pipeline failed
// meanwhile (another layer's failure, a stop): nothing else wakes it then,
// as the failure reaches the download only at its next chunk.
constexpr auto kFailureCheck = 100ms;

// Waits, holding `lock`, until the file has bytes the pipeline lacks or the
// feed should end; false when it should end.
bool await_bytes(Replay& r, std::unique_lock<std::mutex>& lock, unpack::ChunkQueue& pipeline) {
  while (r.state == ReplayState::replaying && r.fed >= r.in_file && !r.complete) {
    if (r.grown.wait_for(lock, kFailureCheck) == std::cv_status::timeout) {
      lock.unlock();
      pipeline.throw_if_failed();
      lock.lock();
    }
  }
  return r.state == ReplayState::replaying;
}

// The layer's feed (LayerInput), from its admission to the blob's end.
void replay(const std::shared_ptr<Replay>& r, unpack::ChunkQueue& pipeline) {
  try {
    {
      std::lock_guard lock(r->mutex);
      if (r->state != ReplayState::deferred) return;
      r->state = ReplayState::replaying;
    }
    for (;;) {
      unpack::ChunkQueue::Buffer buffer = pipeline.acquire();  // waits while the pipeline is full
      std::unique_lock lock(r->mutex);
      if (!await_bytes(*r, lock, pipeline)) return;
      if (r->fed >= r->in_file) {  // complete, and all of it fed
        lock.unlock();
        pipeline.close();
        return;
      }
      const std::filesystem::path& path = r->complete ? r->blob : r->partial;
      if (!r->file) r->file = core::open_file(path, O_RDONLY);
      const auto want = static_cast<std::size_t>(std::min<std::int64_t>(
          static_cast<std::int64_t>(buffer.size()), r->in_file - r->fed));
      ssize_t n;
      do {
        n = ::pread(r->file.get(), buffer.data(), want, r->fed);
      } while (n < 0 && errno == EINTR);
      if (n < 0) throw core::errno_error(errno, "cannot read the downloaded blob", path.string());
      if (n == 0) throw Error(ErrorKind::io, "downloaded blob shrank while replayed", {.path = path.string()});
      r->fed += n;
      lock.unlock();
      pipeline.commit(std::move(buffer), static_cast<std::size_t>(n));
    }
  } catch (...) {
    pipeline.fail(std::current_exception());
    r->fail(std::current_exception());
  }
}

class TeeSink final : public registry::BlobSink {
 public:
  TeeSink(registry::BlobSinkPtr store, std::shared_ptr<Replay> replay, Download& download)
      : store_(std::move(store)), replay_(std::move(replay)), download_(download) {}

  ~TeeSink() override {
    if (finished_) return;
    stop_replay();
    auto error = std::make_exception_ptr(Error(ErrorKind::network, "layer download did not complete"));
    download_.input->queue().fail(error);
    download_.settle(error);
  }

  [[nodiscard]] std::int64_t offset() const override { return store_->offset(); }

  registry::SinkFlow write(std::span<const std::byte> bytes) override {
    // A failed image stops downloading its layers.
    download_.input->queue().throw_if_failed();
    // Outside the lock: the feed reads only bytes already counted, and
    // the fetcher's calls for one sink never overlap. Bytes written after
    // the feed failed are still the blob's, kept for a resume.
    store_->write(bytes);
    {
      std::lock_guard lock(replay_->mutex);
      if (replay_->error) std::rethrow_exception(replay_->error);
      replay_->in_file += static_cast<std::int64_t>(bytes.size());
    }
    replay_->grown.notify_one();
    return registry::SinkFlow::more;
  }

  void on_ready(std::function<void()> wake) override { wake(); }  // never paused

  void restart() override {
    // The server sends the blob again from byte 0. The feed keeps its
    // place: the bytes it fed come again first (a different blob fails the
    // digest, and the layer its diff ID); it waits until the file has
    // more than it fed, reading the file anew.
    std::lock_guard lock(replay_->mutex);
    store_->restart();
    replay_->in_file = 0;
    replay_->file.reset();
  }

  void finish() override {
    finished_ = true;
    try {
      std::lock_guard lock(replay_->mutex);
      store_->finish();
      replay_->complete = true;
    } catch (const Error& e) {
      stop_replay();
      // Wrong bytes the pipeline has consumed: if the fetcher asks another
      // host (a mirror sent them), that download only fills the store.
      if (e.kind() == ErrorKind::digest_mismatch) download_.tainted = true;
      download_.input->queue().fail(std::current_exception());
      download_.settle(std::current_exception());
      throw;
    }
    // The feed closes the pipeline's input after the last bytes.
    replay_->grown.notify_one();
    download_.settle(nullptr);
  }

 private:
  void stop_replay() {
    {
      std::lock_guard lock(replay_->mutex);
      if (replay_->state == ReplayState::deferred || replay_->state == ReplayState::replaying) {
        replay_->state = ReplayState::stopped;
      }
    }
    replay_->grown.notify_one();
  }

  registry::BlobSinkPtr store_;
  std::shared_ptr<Replay> replay_;
  Download& download_;
  bool finished_ = false;
};

}  // namespace

registry::BlobSinkPtr make_tee_sink(registry::BlobSinkPtr store, std::filesystem::path partial,
                                    std::filesystem::path blob, Download& download) {
  auto state = std::make_shared<Replay>();
  state->partial = std::move(partial);
  state->blob = std::move(blob);
  state->in_file = store->offset();
  auto sink = std::make_unique<TeeSink>(std::move(store), state, download);
  download.input->feed_with([state](unpack::ChunkQueue& pipeline) { replay(state, pipeline); });
  return sink;
}

}  // namespace gantry::engine::detail
