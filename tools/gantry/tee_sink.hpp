#pragma once
// A layer download teed into the store and into a layer pipeline
// (layer_streams.cpp). Internal to tools/gantry.

#include <exception>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "registry/blob_sink.hpp"
#include "unpack/chunk_queue.hpp"

namespace gantry::tools {

// One blob being downloaded for the pipelines: the first layer that names
// it gets the bytes as they arrive; later copies of the same blob in the
// image (empty layers repeat) read it from the store once it is committed.
struct Download {
  unpack::ChunkQueue* input = nullptr;  // null: the blob is wanted in the store only
  std::promise<void> committed;
  std::shared_future<void> committed_future = committed.get_future().share();
  bool settled = false;
  // A host (a mirror) sent bytes that did not match the digest, and the
  // pipeline had them: it failed, and the fetcher's next host fills the
  // store only. The caller may unpack again from the store.
  bool tainted = false;

  void settle(std::exception_ptr error);
};

// Sends a download into the store's sink (partial file, compressed digest)
// and into the pipeline. A resumed download (the store holds a partial file
// of an earlier run) first replays the partial file into the pipeline on a
// thread of its own, added to `feeders`, while the fetcher appends the rest
// to the file; once the replay has caught up, bytes go straight through.
// The compressed digest is checked by the store before the pipeline hears
// that its input is complete.
[[nodiscard]] registry::BlobSinkPtr make_tee_sink(registry::BlobSinkPtr store, const std::filesystem::path& partial,
                                                  Download& download, std::vector<std::thread>& feeders);

}  // namespace gantry::tools
