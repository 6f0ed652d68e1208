#include "tools/gantry/image_unpack.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "core/file_handle.hpp"
#include "core/error.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "registry/store_sink.hpp"
#include "unpack/applier.hpp"

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

// Leaves the directory empty. Directories the image made unwritable (mode
// 000) are opened up first so their contents can go.
void empty_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                   ec);
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) std::filesystem::remove_all(entry.path(), ec);
}

// Where the layers are applied. DIR must be new or empty: unpacking over an
// existing tree would mix two images. A new DIR is built as a hidden sibling
// and renamed into place at the end, so even a killed gantry never leaves a
// half-applied DIR behind; an existing empty DIR (perhaps a mount point,
// which cannot be renamed over) is filled in place and emptied on failure.
class RootfsTarget {
 public:
  explicit RootfsTarget(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::error_code ec;
    if (std::filesystem::exists(dir_, ec)) {
      if (!std::filesystem::is_directory(dir_, ec)) {
        throw Error(ErrorKind::bad_input, "target exists and is not a directory", {.path = dir_.string()});
      }
      if (!std::filesystem::is_empty(dir_, ec)) {
        throw Error(ErrorKind::bad_input, "target directory is not empty", {.path = dir_.string()});
      }
      work_ = dir_;
      return;
    }
    std::filesystem::path parent = std::filesystem::absolute(dir_).parent_path();
    std::filesystem::create_directories(parent, ec);
    if (ec) throw Error(ErrorKind::io, "cannot create the target's parent: " + ec.message(), {.path = parent.string()});
    const std::string prefix = "." + dir_.filename().string() + ".gantry-partial-";
    remove_stale_staging(parent, prefix);
    work_ = parent / (prefix + std::to_string(::getpid()));
    if (!std::filesystem::create_directory(work_, ec)) {
      throw Error(ErrorKind::io, "cannot create the target directory: " + ec.message(), {.path = work_.string()});
    }
  }

  // Whatever stops the unpack (even resolving the reference), nothing
  // half-made stays.
  ~RootfsTarget() {
    if (!committed_) discard();
  }
  RootfsTarget(const RootfsTarget&) = delete;
  RootfsTarget& operator=(const RootfsTarget&) = delete;

  [[nodiscard]] const std::filesystem::path& work() const { return work_; }

  void commit() {
    if (work_ != dir_ && ::rename(work_.c_str(), dir_.c_str()) != 0) {
      throw core::errno_error(errno, "rename into place", dir_.string());
    }
    committed_ = true;
  }

 private:
  // Staging directories of gantry processes that died (SIGKILL, power loss)
  // before they could clean up; a live process's stays.
  static void remove_stale_staging(const std::filesystem::path& parent, const std::string& prefix) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
      std::string name = entry.path().filename().string();
      if (!name.starts_with(prefix)) continue;
      int pid = std::atoi(name.c_str() + prefix.size());
      if (pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH)) continue;
      empty_directory(entry.path());
      std::filesystem::remove(entry.path(), ec);
    }
  }

  // The staging directory goes; an existing DIR is left empty as it was found.
  void discard() {
    empty_directory(work_);
    if (work_ != dir_) {
      std::error_code ec;
      std::filesystem::remove(work_, ec);
    }
  }

  std::filesystem::path dir_;
  std::filesystem::path work_;
  bool committed_ = false;
};

}  // namespace

UnpackReport unpack_rootfs(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                           const std::filesystem::path& rootfs, const UnpackOptions& options) {
  auto started = std::chrono::steady_clock::now();
  RootfsTarget target(rootfs);
  UnpackReport report{.image = client.resolve(reference, store)};
  const auto& image = report.image;
  const auto& layers = image.manifest.layers;
  if (image.config.diff_ids.size() != layers.size()) {
    throw Error(ErrorKind::bad_input,
                "config lists " + std::to_string(image.config.diff_ids.size()) + " diff IDs for " +
                    std::to_string(layers.size()) + " layers",
                {.registry = reference.registry, .repository = reference.repository,
                 .digest = image.manifest_descriptor.digest.string()});
  }
  store.put_blob(image.manifest_descriptor.digest, image.manifest_bytes);
  store.put_blob(image.manifest.config.digest, image.config_bytes);
  if (image.index_descriptor) store.put_blob(image.index_descriptor->digest, image.index_bytes);

  // One applier and one pipeline per layer; each layer applies after the one
  // below it (flattening is ordered), while all of them decode at once.
  std::vector<std::unique_ptr<unpack::Applier>> appliers;
  std::vector<std::unique_ptr<unpack::LayerPipeline>> pipelines;
  std::map<core::Digest, Download> downloads;
  std::vector<core::Descriptor> to_fetch;
  std::vector<std::thread> feeders;
  std::exception_ptr failure;
  try {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const core::Descriptor& layer = layers[i];
      unpack::LayerSpec spec{.compression = core::media_type::layer_compression(layer.media_type),
                             .diff_id = image.config.diff_ids[i],
                             .name = layer.digest.string(),
                             .max_uncompressed = options.max_layer_size};
      appliers.push_back(std::make_unique<unpack::Applier>(target.work(), unpack::ApplyOptions{}));
      std::shared_future<void> after = pipelines.empty() ? std::shared_future<void>{} : pipelines.back()->applied();
      pipelines.push_back(std::make_unique<unpack::LayerPipeline>(std::move(spec), *appliers.back(), after));
      unpack::ChunkQueue& input = pipelines.back()->input();
      auto path = store.blob_path(layer.digest);
      if (auto it = downloads.find(layer.digest); it != downloads.end()) {
        feeders.emplace_back(feed_from_store, it->second.committed_future, path, std::ref(input));
      } else if (store.has_blob(layer.digest)) {
        feeders.emplace_back(feed_from_store, std::shared_future<void>{}, path, std::ref(input));
      } else {
        downloads[layer.digest].input = &input;
        to_fetch.push_back(layer);
      }
    }
    if (!to_fetch.empty()) {
      TeeSinkFactory sinks(store, downloads, feeders);
      report.fetched = client.fetch_blobs(reference, to_fetch, sinks);
    }
  } catch (...) {
    failure = std::current_exception();
    for (auto& p : pipelines) p->input().fail(failure);
  }
  // Downloads that never opened a sink (the fetch stopped first) release
  // the copies waiting for them.
  auto not_fetched = failure ? failure
                             : std::make_exception_ptr(Error(ErrorKind::network, "layer was not downloaded"));
  for (auto& [digest, download] : downloads) download.settle(not_fetched);
  for (auto& f : feeders) f.join();
  for (auto& p : pipelines) {
    try {
      report.layers.push_back(p->wait());
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  target.commit();
  store.set_ref(reference.string(), image.manifest_descriptor);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace gantry::tools
