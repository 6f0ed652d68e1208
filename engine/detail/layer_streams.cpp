#include "engine/detail/layer_streams.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "registry/store_sink.hpp"
#include "engine/detail/tee_sink.hpp"

namespace gantry::engine::detail {

using core::Error;
using core::ErrorKind;

namespace {

// A verified blob from the store into a pipeline, once `ready` is (the
// blob is being downloaded for a lower layer): a layer's feed.
LayerInput::Feed from_store(std::filesystem::path blob, std::shared_future<void> ready = {}) {
  return [blob = std::move(blob), ready = std::move(ready)](unpack::ChunkQueue& pipeline) {
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
  };
}

// Opens tee sinks for layers being downloaded; a layer that turns out to be
// in the store already (another process finished it) reads it from there.
class TeeSinkFactory final : public registry::BlobSinkFactory {
 public:
  TeeSinkFactory(core::ContentStore& store, std::map<core::Digest, Download>& downloads)
      : store_(store), store_sinks_(store), downloads_(downloads) {}

  Opened open(const core::Descriptor& blob) override {
    Opened opened = store_sinks_.open(blob);
    Download& download = downloads_.at(blob.digest);
    // Wanted in the store only, or the pipeline already failed on a host's
    // wrong bytes and the next host's download only fills the store.
    if (!download.input || download.tainted) return opened;
    if (opened.state == State::ready) {
      opened.sink = make_tee_sink(std::move(opened.sink), store_.partial_path(blob.digest),
                                  store_.blob_path(blob.digest), download);
    } else if (opened.state == State::present) {
      download.input->feed_with(from_store(store_.blob_path(blob.digest)));
      download.settle(nullptr);
    }
    return opened;
  }

 private:
  core::ContentStore& store_;
  registry::StoreSinkFactory store_sinks_;
  std::map<core::Digest, Download>& downloads_;
};

}  // namespace

StreamResult stream_layers(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                           std::span<const LayerFeed> feeds) {
  std::map<core::Digest, Download> downloads;
  std::vector<core::Descriptor> to_fetch;
  StreamResult result;
  std::exception_ptr failure;
  try {
    for (const LayerFeed& feed : feeds) {
      if (!feed.input) continue;
      auto path = store.blob_path(feed.blob.digest);
      if (auto it = downloads.find(feed.blob.digest); it != downloads.end()) {
        feed.input->feed_with(from_store(path, it->second.committed_future));
      } else if (store.has_blob(feed.blob.digest)) {
        feed.input->feed_with(from_store(path));
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
      TeeSinkFactory sinks(store, downloads);
      result.fetched = client.fetch_blobs(reference, to_fetch, sinks);
    }
  } catch (...) {
    failure = std::current_exception();
    for (const LayerFeed& feed : feeds) {
      if (feed.input) feed.input->queue().fail(failure);
    }
  }
  // Downloads that never opened a sink (the fetch stopped first) release
  // the copies waiting for them.
  auto not_fetched = failure ? failure
                             : std::make_exception_ptr(Error(ErrorKind::network, "layer was not downloaded"));
  for (auto& [digest, download] : downloads) download.settle(not_fetched);
  if (failure) std::rethrow_exception(failure);
  for (const auto& [digest, download] : downloads) result.refetched_wrong_bytes |= download.tainted;
  return result;
}

}  // namespace gantry::engine::detail
