#include "tools/gantry/tee_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::tools {

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

// The replay of a resumed download's partial file, shared by the sink (the
// fetcher's threads) and the replaying thread. The file only grows while
// the replay runs (the sink appends), and is cut only by restart(), under
// the mutex, which the replay holds while it reads.
enum class ReplayState {
  replaying,  // the thread feeds the file's bytes; the sink only appends
  caught_up,  // the sink now writes to the pipeline itself
  stopped,    // restart or the download's failure: the thread ends
  failed,     // the pipeline (or the file) failed the replay: so does the download
};

struct Replay {
  std::mutex mutex;
  core::FileHandle file;
  std::filesystem::path path;
  std::int64_t in_file = 0;     // bytes in the partial file
  std::int64_t fed = 0;         // of them, those in the pipeline
  ReplayState state = ReplayState::replaying;
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

void replay(const std::shared_ptr<Replay>& r, unpack::ChunkQueue& pipeline) {
  try {
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
      const auto want = static_cast<std::size_t>(std::min<std::int64_t>(
          static_cast<std::int64_t>(buffer.size()), r->in_file - r->fed));
      ssize_t n;
      do {
        n = ::pread(r->file.get(), buffer.data(), want, r->fed);
      } while (n < 0 && errno == EINTR);
      if (n < 0) throw core::errno_error(errno, "cannot read partial blob", r->path.string());
      if (n == 0) throw Error(ErrorKind::io, "partial blob shrank while replayed", {.path = r->path.string()});
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
    download_.input->fail(error);
    download_.settle(error);
  }

  [[nodiscard]] std::int64_t offset() const override { return store_->offset(); }

  registry::SinkFlow write(std::span<const std::byte> bytes) override {
    // After a restart the server sends again what the pipeline already has.
    auto skip = static_cast<std::size_t>(std::min<std::int64_t>(skip_, static_cast<std::int64_t>(bytes.size())));
    skip_ -= static_cast<std::int64_t>(skip);
    store_->write(bytes);
    if (!direct_) {
      std::lock_guard lock(replay_->mutex);
      if (replay_->error) std::rethrow_exception(replay_->error);
      if (replaying_locked()) {
        // The replay picks these bytes up from the file and wakes us.
        replay_->in_file += static_cast<std::int64_t>(bytes.size());
        return registry::SinkFlow::pause;
      }
    }
    forwarded_ += static_cast<std::int64_t>(bytes.size() - skip);
    bool room = skip == bytes.size() || download_.input->push_copy(bytes.subspan(skip));
    return room ? registry::SinkFlow::more : registry::SinkFlow::pause;
  }

  void on_ready(std::function<void()> wake) override {
    if (!direct_) {
      std::unique_lock lock(replay_->mutex);
      if (replay_->error) {
        lock.unlock();
        wake();  // to the next write(), which throws the replay's error
        return;
      }
      if (replaying_locked()) {
        replay_->wake = std::move(wake);
        return;
      }
    }
    download_.input->on_space(std::move(wake));
  }

  void restart() override {
    std::function<void()> wake;
    bool restarted = false;
    if (!direct_) {
      std::lock_guard lock(replay_->mutex);
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
    try {
      store_->finish();
    } catch (const Error& e) {
      stop_replay();
      // Wrong bytes the pipeline has consumed: if the fetcher asks another
      // host (a mirror sent them), that download only fills the store.
      if (e.kind() == ErrorKind::digest_mismatch) download_.tainted = true;
      download_.input->fail(std::current_exception());
      download_.settle(std::current_exception());
      throw;
    }
    bool close_now = true;
    if (!direct_) {
      std::lock_guard lock(replay_->mutex);
      replay_->complete = true;
      close_now = !replaying_locked();  // otherwise the replay closes after the last bytes
    }
    if (close_now) download_.input->close();
    download_.settle(nullptr);
  }

 private:
  // Under the replay's mutex: true while the replay has not caught up.
  // The first call after it has switches to direct writes, counting the
  // replayed bytes as forwarded.
  bool replaying_locked() {
    if (replay_->state == ReplayState::replaying) return true;
    direct_ = true;
    forwarded_ = replay_->fed;
    return false;
  }

  void stop_replay() {
    if (!replay_) return;
    std::lock_guard lock(replay_->mutex);
    if (replay_->state == ReplayState::replaying) replay_->state = ReplayState::stopped;
  }

  registry::BlobSinkPtr store_;
  std::shared_ptr<Replay> replay_;  // null: nothing to replay
  bool direct_ = replay_ == nullptr;  // writes go to the pipeline
  Download& download_;
  std::int64_t forwarded_ = 0;
  std::int64_t skip_ = 0;
  bool finished_ = false;
};

}  // namespace

registry::BlobSinkPtr make_tee_sink(registry::BlobSinkPtr store, const std::filesystem::path& partial,
                                    Download& download, std::vector<std::thread>& feeders) {
  std::shared_ptr<Replay> state;
  if (store->offset() > 0) {
    state = std::make_shared<Replay>();
    state->path = partial;
    state->file = core::open_file(partial, O_RDONLY);
    state->in_file = store->offset();
    feeders.emplace_back(replay, state, std::ref(*download.input));
  }
  return std::make_unique<TeeSink>(std::move(store), std::move(state), download);
}

}  // namespace gantry::tools
