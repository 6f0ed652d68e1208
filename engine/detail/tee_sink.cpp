#include "engine/detail/tee_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

// The replay of a download's file, shared by the sink (the fetcher's
// threads) and the layer's feed thread. The file only grows while the
// replay runs (the sink appends), and is cut only by restart(), under the
// mutex, which the replay holds while it reads; the sink holds it while the
// store commits (renames) the file, so the replay opens the partial file or
// the committed blob, never a name in between.
enum class ReplayState {
  deferred,   // the layer is not admitted: the bytes go to the file only
  replaying,  // the feed thread reads the file into the pipeline; the sink appends
  caught_up,  // the sink now writes to the pipeline itself
  stopped,    // restart or the download's failure: the replay ends
  failed,     // the pipeline (or the file) failed the replay: so does the download
};

struct Replay {
  std::mutex mutex;
  std::filesystem::path partial;
  std::filesystem::path blob;
  core::FileHandle file;        // opened at the first read
  std::int64_t in_file = 0;     // bytes in the file
  std::int64_t fed = 0;         // of them, those in the pipeline
  ReplayState state = ReplayState::deferred;
  std::exception_ptr error;     // with failed
  bool complete = false;        // every byte is in the file and verified
  std::function<void()> wake;   // the fetcher's, paused until the catch-up

  // Ends the replay with `failure` and wakes the paused fetcher, whose next
  // write then throws it: a download left paused would hang the command.
  void fail(std::exception_ptr failure) {
    std::function<void()> paused;
    {
      std::lock_guard lock(mutex);
      if (state == ReplayState::replaying) {
        state = ReplayState::failed;
        error = std::move(failure);
      }
      paused = std::move(wake);
    }
    if (paused) paused();
  }
};

// The layer's feed (LayerInput), from its admission.
void replay(const std::shared_ptr<Replay>& r, unpack::ChunkQueue& pipeline) {
  try {
    {
      std::lock_guard lock(r->mutex);
      if (r->state != ReplayState::deferred) return;
      r->state = ReplayState::replaying;
    }
    for (;;) {
      unpack::ChunkQueue::Buffer buffer = pipeline.acquire();
      std::unique_lock lock(r->mutex);
      if (r->state != ReplayState::replaying) return;
      if (r->fed == r->in_file) {
        if (r->complete) {
          pipeline.close();
          return;
        }
        r->state = ReplayState::caught_up;
        auto wake = std::move(r->wake);
        lock.unlock();
        if (wake) wake();
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
    // After a restart the server sends again what the pipeline already has.
    auto skip = static_cast<std::size_t>(std::min<std::int64_t>(skip_, static_cast<std::int64_t>(bytes.size())));
    skip_ -= static_cast<std::int64_t>(skip);
    if (!direct_) {
      std::lock_guard lock(replay_->mutex);
      if (replay_->error) std::rethrow_exception(replay_->error);
      if (replay_->state == ReplayState::deferred) {
        // A failed image stops downloading the layers it never admitted.
        download_.input->queue().throw_if_failed();
        store_->write(bytes);
        replay_->in_file += static_cast<std::int64_t>(bytes.size());
        return registry::SinkFlow::more;
      }
      if (replaying_locked()) {
        // The replay picks these bytes up from the file and wakes us.
        store_->write(bytes);
        replay_->in_file += static_cast<std::int64_t>(bytes.size());
        return registry::SinkFlow::pause;
      }
    }
    store_->write(bytes);
    forwarded_ += static_cast<std::int64_t>(bytes.size() - skip);
    bool room = skip == bytes.size() || download_.input->queue().push_copy(bytes.subspan(skip));
    return room ? registry::SinkFlow::more : registry::SinkFlow::pause;
  }

  void on_ready(std::function<void()> wake) override {
    if (!direct_) {
      std::unique_lock lock(replay_->mutex);
      if (replay_->error || replay_->state == ReplayState::deferred) {
        lock.unlock();
        wake();  // deferred writes never pause; after a failure the next write throws
        return;
      }
      if (replaying_locked()) {
        replay_->wake = std::move(wake);
        return;
      }
    }
    download_.input->queue().on_space(std::move(wake));
  }

  void restart() override {
    std::function<void()> wake;
    bool restarted = false;
    if (!direct_) {
      std::lock_guard lock(replay_->mutex);
      if (replay_->state == ReplayState::deferred) {
        // Nothing reached the pipeline: the file just starts again.
        store_->restart();
        replay_->in_file = 0;
        return;
      }
      if (replaying_locked()) {
        // The replay stops where it is: the bytes it fed come again first.
        replay_->state = ReplayState::stopped;
        direct_ = true;
        forwarded_ = replay_->fed;
        wake = std::move(replay_->wake);
        store_->restart();  // under the lock: the replay may be reading the file
        restarted = true;
      }
    }
    if (!restarted) store_->restart();
    skip_ = forwarded_;
    if (wake) wake();
  }

  void finish() override {
    finished_ = true;
    bool close_now = true;
    try {
      if (direct_) {
        store_->finish();
      } else {
        std::lock_guard lock(replay_->mutex);
        store_->finish();
        replay_->complete = true;
        close_now = !replaying_locked() && replay_->state == ReplayState::caught_up;
      }
    } catch (const Error& e) {
      stop_replay();
      // Wrong bytes the pipeline has consumed: if the fetcher asks another
      // host (a mirror sent them), that download only fills the store.
      if (e.kind() == ErrorKind::digest_mismatch) download_.tainted = true;
      download_.input->queue().fail(std::current_exception());
      download_.settle(std::current_exception());
      throw;
    }
    // Otherwise the replay closes the input after the last bytes.
    if (close_now) download_.input->queue().close();
    download_.settle(nullptr);
  }

 private:
  // Under the replay's mutex, after a deferred layer was admitted: true
  // while the replay has not caught up. The first call after it has
  // switches to direct writes, counting the replayed bytes as forwarded.
  bool replaying_locked() {
    if (replay_->state == ReplayState::replaying) return true;
    if (replay_->state == ReplayState::caught_up) {
      direct_ = true;
      forwarded_ = replay_->fed;
    }
    return false;
  }

  void stop_replay() {
    std::lock_guard lock(replay_->mutex);
    if (replay_->state == ReplayState::deferred || replay_->state == ReplayState::replaying) {
      replay_->state = ReplayState::stopped;
    }
  }

  registry::BlobSinkPtr store_;
  std::shared_ptr<Replay> replay_;
  bool direct_ = false;  // writes go to the pipeline; the replay is over
  Download& download_;
  std::int64_t forwarded_ = 0;
  std::int64_t skip_ = 0;
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
