#pragma once
// One layer's way from compressed bytes to files, in one pass:
//
//   input queue (compressed chunks: the download's file, or the store's blob)
//     -> decode (Decoder, own thread)  ─┐ chunk k+1 decodes while chunk k
//     -> sha256 (diff ID, own thread)  ─┘ is hashed
//     -> tar queue -> tar reader (libarchive, own thread) -> Applier
//
// Every queue is bounded, so memory is a few chunks per layer whatever its
// size, and a slow applier slows the decoder, which slows the layer's feed
// (never the download: engine/detail/tee_sink.hpp). The compressed digest is not checked here: the store's blob writer
// (or the store itself, for blobs read back) checks it. A layer is complete
// only when wait() returns: the stream decoded cleanly to its end, its diff
// ID matched, and every entry was applied.

#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/media_types.hpp"
#include "unpack/applier.hpp"
#include "unpack/chunk_queue.hpp"

namespace gantry::unpack {

struct LayerSpec {
  core::media_type::Compression compression = core::media_type::Compression::none;
  core::Digest diff_id;  // config.rootfs.diff_ids[i]
  std::string name;      // the blob's digest, for errors
  // The most uncompressed bytes accepted (a decompression bomb's cap); 0: no cap.
  std::int64_t max_uncompressed = 0;
};

struct LayerResult {
  std::int64_t compressed_bytes = 0;
  std::int64_t uncompressed_bytes = 0;
  ApplyStats applied;
  // When the last byte was decoded and the last entry applied, and where
  // the layer's time went waiting:
  // the decoder for compressed bytes (the network, or the store's read),
  // the input's producer for the decoder (its queue full), the decoder for
  // the tar reader and applier (their queue full).
  ChunkQueue::Clock::time_point decoded_at{};
  ChunkQueue::Clock::time_point applied_at{};
  ChunkQueue::Clock::duration waited_for_input{};
  ChunkQueue::Clock::duration waited_for_decoder{};
  ChunkQueue::Clock::duration waited_for_applier{};
};

class LayerPipeline {
 public:
  static constexpr std::size_t kChunkSize = 1 << 20;
  static constexpr std::size_t kQueueDepth = 4;

  // `applier` and `input` (a queue of kQueueDepth x kChunkSize, from
  // make_input()) must outlive the pipeline; the input is apart so that its
  // producer may outlive a pipeline that failed. The applier's options say
  // what it waits for (a flattened rootfs: the layer below, through
  // applied()). Three threads run from here until wait().
  LayerPipeline(LayerSpec spec, Applier& applier, ChunkQueue& input);
  ~LayerPipeline();
  LayerPipeline(const LayerPipeline&) = delete;
  LayerPipeline& operator=(const LayerPipeline&) = delete;

  // A queue for a pipeline's compressed bytes: close() it after the last
  // one, or fail() it when the download fails.
  [[nodiscard]] static std::unique_ptr<ChunkQueue> make_input();

  // Ready once every entry of this layer is applied (or holding the error
  // that stopped it): the next layer's ApplyOptions::lowers_applied for a
  // flattened rootfs.
  // Set by the pipeline's own thread, so layers chain without a caller in
  // the loop (the caller is busy fetching).
  [[nodiscard]] std::shared_future<void> applied() const { return applied_; }

  // Waits for both stages and rethrows the root cause of a failure (a decode
  // error before the tar error it caused). Error(digest_mismatch) when the
  // diff ID differs, Error(bad_input) for a corrupt or truncated stream.
  LayerResult wait();

 private:
  void decode_stage();
  void apply_stage();
  [[nodiscard]] core::ErrorContext with_layer(core::ErrorContext context) const;

  LayerSpec spec_;
  Applier& applier_;
  ChunkQueue& input_;
  ChunkQueue tar_;
  LayerResult result_;
  std::exception_ptr decode_error_;
  std::exception_ptr apply_error_;
  std::promise<void> applied_promise_;
  std::shared_future<void> applied_;
  std::thread decoder_;
  std::thread reader_;
  bool joined_ = false;
};

}  // namespace gantry::unpack
