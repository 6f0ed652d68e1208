#include "tools/gantry/layer_streams.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "registry/store_sink.hpp"

namespace gantry::tools {

using core::Error;
using core::ErrorKind;

namespace {

// One blob being downloaded for the pipelines: the first layer that names
// it gets the bytes as they arrive; later copies of the same blob in the
// image (empty layers repeat) read it from the store once it is committed.
struct Download {
  unpack::ChunkQueue* input = nullptr;
  std::promise<void> committed;
  std::shared_future<void> committed_future = committed.get_future().share();
  bool settled = false;

  void settle(std::exception_ptr error) {
    if (settled) return;
    settled = true;
    if (error) {
      committed.set_exception(error);
    } else {
      committed.set_value();
    }
  }
};

// Tees a download into the store (partial file, compressed digest) and into a
// layer pipeline. The pipeline needs every byte from the first, so a partial
// file of an earlier run is dropped rather than resumed here.
class TeeSink final : public registry::BlobSink {
 public:
  TeeSink(registry::BlobSinkPtr store, Download& download) : store_(std::move(store)), download_(download) {
    if (store_->offset() > 0) store_->restart();
  }

  ~TeeSink() override {
    if (finished_) return;
    auto error = std::make_exception_ptr(Error(ErrorKind::network, "layer download did not complete"));
    download_.input->fail(error);
    download_.settle(error);
  }

  [[nodiscard]] std::int64_t offset() const override { return store_->offset(); }

  registry::SinkFlow write(std::span<const std::byte> bytes) override {
    store_->write(bytes);
    // After a restart the server sends again what the pipeline already has.
    auto skip = static_cast<std::size_t>(std::min<std::int64_t>(skip_, static_cast<std::int64_t>(bytes.size())));
    skip_ -= static_cast<std::int64_t>(skip);
    forwarded_ += static_cast<std::int64_t>(bytes.size() - skip);
    bool room = skip == bytes.size() || download_.input->push_copy(bytes.subspan(skip));
    return room ? registry::SinkFlow::more : registry::SinkFlow::pause;
  }

  void on_ready(std::function<void()> wake) override { download_.input->on_space(std::move(wake)); }

  void restart() override {
    store_->restart();
    skip_ = forwarded_;
  }

  // The compressed digest is checked by the store before the pipeline hears
  // that its input is complete.
  void finish() override {
    finished_ = true;
    try {
      store_->finish();
    } catch (...) {
      download_.input->fail(std::current_exception());
      download_.settle(std::current_exception());
      throw;
    }
    download_.input->close();
    download_.settle(nullptr);
  }

 private:
  registry::BlobSinkPtr store_;
  Download& download_;
  std::int64_t forwarded_ = 0;
  std::int64_t skip_ = 0;
  bool finished_ = false;
};

// Streams a verified blob from the store into a pipeline, on its own thread
// (acquire() blocks while the pipeline is behind), once `ready` is.
void feed_from_store(std::shared_future<void> ready, std::filesystem::path blob, unpack::ChunkQueue& pipeline) {
  try {
    if (ready.valid()) ready.get();
    int fd = ::open(blob.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw core::errno_error(errno, "open blob", blob.string());
    core::FileHandle file(fd);
    for (;;) {
      unpack::ChunkQueue::Buffer buffer = pipeline.acquire();
      ssize_t n;
      do {
        n = ::read(file.get(), buffer.data(), buffer.size());
      } while (n < 0 && errno == EINTR);
      if (n < 0) throw core::errno_error(errno, "read blob", blob.string());
      if (n == 0) break;
      pipeline.commit(std::move(buffer), static_cast<std::size_t>(n));
    }
    pipeline.close();
  } catch (...) {
    pipeline.fail(std::current_exception());
  }
}

// Opens tee sinks for layers being downloaded; a layer that turns out to be
// in the store already (another process finished it) streams from there.
class TeeSinkFactory final : public registry::BlobSinkFactory {
 public:
  TeeSinkFactory(core::ContentStore& store, std::map<core::Digest, Download>& downloads,
                 std::vector<std::thread>& feeders)
      : store_(store), store_sinks_(store), downloads_(downloads), feeders_(feeders) {}

  Opened open(const core::Descriptor& blob) override {
    Opened opened = store_sinks_.open(blob);
    Download& download = downloads_.at(blob.digest);
    if (!download.input) return opened;  // wanted in the store only
    if (opened.state == State::ready) {
      opened.sink = std::make_unique<TeeSink>(std::move(opened.sink), download);
    } else if (opened.state == State::present) {
      feeders_.emplace_back(feed_from_store, std::shared_future<void>{}, store_.blob_path(blob.digest),
                            std::ref(*download.input));
      download.settle(nullptr);
    }
    return opened;
  }

 private:
  core::ContentStore& store_;
  registry::StoreSinkFactory store_sinks_;
  std::map<core::Digest, Download>& downloads_;
  std::vector<std::thread>& feeders_;
};

}  // namespace

registry::FetchStats stream_layers(registry::Client& client, core::ContentStore& store,
                                   const core::Reference& reference, std::span<const LayerFeed> feeds) {
  std::map<core::Digest, Download> downloads;
  std::vector<core::Descriptor> to_fetch;
  std::vector<std::thread> feeders;
  registry::FetchStats fetched{};
  std::exception_ptr failure;
  try {
    for (const LayerFeed& feed : feeds) {
      if (!feed.input) continue;
      auto path = store.blob_path(feed.blob.digest);
      if (auto it = downloads.find(feed.blob.digest); it != downloads.end()) {
        feeders.emplace_back(feed_from_store, it->second.committed_future, path, std::ref(*feed.input));
      } else if (store.has_blob(feed.blob.digest)) {
        feeders.emplace_back(feed_from_store, std::shared_future<void>{}, path, std::ref(*feed.input));
      } else {
        downloads[feed.blob.digest].input = feed.input;
        to_fetch.push_back(feed.blob);
      }
    }
    // Blobs wanted only in the store, after the streamed ones: a digest
    // both streamed and wanted is in the store once the stream is done.
    for (const LayerFeed& feed : feeds) {
      if (feed.input || downloads.contains(feed.blob.digest) || store.has_blob(feed.blob.digest)) continue;
      downloads[feed.blob.digest];
      to_fetch.push_back(feed.blob);
    }
    if (!to_fetch.empty()) {
      TeeSinkFactory sinks(store, downloads, feeders);
      fetched = client.fetch_blobs(reference, to_fetch, sinks);
    }
  } catch (...) {
    failure = std::current_exception();
    for (const LayerFeed& feed : feeds) {
      if (feed.input) feed.input->fail(failure);
    }
  }
  // Downloads that never opened a sink (the fetch stopped first) release
  // the copies waiting for them.
  auto not_fetched = failure ? failure
                             : std::make_exception_ptr(Error(ErrorKind::network, "layer was not downloaded"));
  for (auto& [digest, download] : downloads) download.settle(not_fetched);
  for (auto& f : feeders) f.join();
  if (failure) std::rethrow_exception(failure);
  return fetched;
}

}  // namespace gantry::tools
