#include "unpack/layer_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <span>
#include <thread>

#include "core/error.hpp"
#include "unpack/decoder.hpp"
#include "unpack/tar_reader.hpp"

namespace gantry::unpack {

using core::Error;
using core::ErrorKind;

namespace {

// Decoded chunks waiting for the hasher: enough to overlap the two.
constexpr std::size_t kDecodedDepth = 2;

// The tar reader's view of the tar queue.
class QueueSource final : public ByteSource {
 public:
  explicit QueueSource(ChunkQueue& queue) : queue_(queue) {}
  ~QueueSource() override { give_back(); }

  std::span<const std::byte> read() override {
    give_back();
    if (!queue_.pop(current_)) return {};
    holding_ = true;
    return current_.bytes();
  }

  // Reads to the end of the stream: bytes after the end-of-archive marker
  // still count towards the diff ID, so the decoder must see them through.
  void drain() {
    while (!read().empty()) {
    }
  }

 private:
  void give_back() {
    if (holding_) queue_.recycle(std::move(current_.buffer));
    holding_ = false;
  }
  ChunkQueue& queue_;
  ChunkQueue::Chunk current_;
  bool holding_ = false;
};

std::string compression_name(core::media_type::Compression c) { return std::string(core::media_type::to_string(c)); }

}  // namespace

std::unique_ptr<ChunkQueue> LayerPipeline::make_input() {
  return std::make_unique<ChunkQueue>(kQueueDepth, kChunkSize);
}

LayerPipeline::LayerPipeline(LayerSpec spec, Applier& applier, ChunkQueue& input)
    : spec_(std::move(spec)),
      applier_(applier),
      input_(input),
      tar_(kQueueDepth, kChunkSize),
      applied_(applied_promise_.get_future().share()) {
  decoder_ = std::thread([this] { decode_stage(); });
  reader_ = std::thread([this] { apply_stage(); });
}

LayerPipeline::~LayerPipeline() {
  if (joined_) return;
  // Abandoned (an exception elsewhere): stop both stages before joining.
  auto stop = std::make_exception_ptr(Error(ErrorKind::io, "layer unpack abandoned", {.digest = spec_.name}));
  input_.fail(stop);
  tar_.fail(stop);
  decoder_.join();
  reader_.join();
}

core::ErrorContext LayerPipeline::with_layer(core::ErrorContext context) const {
  context.digest = spec_.name;
  return context;
}

void LayerPipeline::decode_stage() {
  try {
    DecoderPtr decoder = make_decoder(spec_.compression);
    core::Hasher diff_hasher;
    ChunkQueue::Chunk in;
    std::size_t in_pos = 0;
    bool have_input = false;
    bool input_done = false;
    bool first = true;

    // Fills `out` from as much input as it takes; 0 once the stream is over.
    auto decode_into = [&](std::span<std::byte> out) -> std::size_t {
      std::size_t produced = 0;
      while (!input_done && produced < out.size()) {
        // The decoder may still hold output when its input is used up (the
        // last output chunk was full), so it is asked first, with whatever
        // input is left (possibly none), before more input is fetched.
        std::span<const std::byte> rest;
        if (have_input) rest = in.bytes().subspan(in_pos);
        DecodeStep step = decoder->decode(rest, out.subspan(produced));
        in_pos += step.consumed;
        produced += step.produced;
        if (step.consumed != 0 || step.produced != 0) continue;
        if (!rest.empty()) {
          // The decoder's contract: no progress with input left means the
          // stream ended and it threw for trailing bytes; never spin.
          throw Error(ErrorKind::bad_input, "layer " + compression_name(spec_.compression) + " stream stalled",
                      {.digest = spec_.name});
        }
        if (have_input) input_.recycle(std::move(in.buffer));
        have_input = input_.pop(in);
        in_pos = 0;
        if (!have_input) {
          input_done = true;
          break;
        }
        result_.compressed_bytes += static_cast<std::int64_t>(in.size);
        if (first && in.size > 0) {
          check_magic(spec_.compression, in.bytes());
          first = false;
        }
      }
      return produced;
    };

    // Decoding and hashing overlap: chunk k+1 decodes here while chunk k is
    // hashed on the hasher thread, which hands it on to the tar queue. A
    // thread of the layer's own, waiting on condition variables: a thread
    // pool's idle workers spin (oneTBB's did: ~0.4 CPU s per GiB while a
    // flattened layer waits for the one below).
    ChunkQueue decoded(kDecodedDepth, kChunkSize);
    std::exception_ptr hash_error;
    std::thread hasher([&] {
      try {
        ChunkQueue::Chunk chunk;
        while (decoded.pop(chunk)) {
          diff_hasher.update(chunk.buffer.data(), chunk.size);
          result_.uncompressed_bytes += static_cast<std::int64_t>(chunk.size);
          if (spec_.max_uncompressed > 0 && result_.uncompressed_bytes > spec_.max_uncompressed) {
            throw Error(ErrorKind::bad_input,
                        "layer expands beyond the limit of " + std::to_string(spec_.max_uncompressed) + " bytes",
                        {.digest = spec_.name});
          }
          // The chunk moves on as it is; the decoder gets a buffer of the
          // tar queue's pool back for it, once that queue has room.
          ChunkQueue::Buffer spare = tar_.acquire();
          tar_.commit(std::move(chunk.buffer), chunk.size);
          decoded.recycle(std::move(spare));
        }
      } catch (...) {
        hash_error = std::current_exception();
        decoded.fail(hash_error);
      }
    });
    std::exception_ptr decode_failure;
    try {
      for (;;) {
        ChunkQueue::Buffer out = decoded.acquire();
        const std::size_t produced = decode_into(out);
        if (produced == 0) break;
        decoded.commit(std::move(out), produced);
      }
      decoded.close();
    } catch (...) {
      // The hasher may wait for room in the tar queue: fail that too, or a
      // flattened layer's error would wait for the layer below to apply.
      decode_failure = std::current_exception();
      decoded.fail(decode_failure);
      tar_.fail(decode_failure);
    }
    hasher.join();
    // The hasher's error (the tar side failed, the size cap) caused ours.
    if (hash_error) std::rethrow_exception(hash_error);
    if (decode_failure) std::rethrow_exception(decode_failure);

    if (!decoder->finished()) {
      throw Error(ErrorKind::bad_input, "layer " + compression_name(spec_.compression) + " stream is truncated",
                  {.digest = spec_.name});
    }
    core::Digest got = diff_hasher.finish();
    if (got != spec_.diff_id) {
      throw Error(ErrorKind::digest_mismatch,
                  "layer diff ID mismatch: config says " + spec_.diff_id.string() + ", content is " + got.string(),
                  {.digest = spec_.name});
    }
    result_.decoded_at = ChunkQueue::Clock::now();
    tar_.close();
  } catch (const Error& e) {
    // Decoders do not know which layer they decode: name it.
    decode_error_ = e.context().digest.empty()
                        ? std::make_exception_ptr(Error(e.kind(), e.message(), with_layer(e.context())))
                        : std::current_exception();
    tar_.fail(decode_error_);
    input_.fail(decode_error_);
  } catch (...) {
    decode_error_ = std::current_exception();
    tar_.fail(decode_error_);
    input_.fail(decode_error_);
  }
}

void LayerPipeline::apply_stage() {
  QueueSource source(tar_);
  bool announced = false;
  try {
    read_tar(
        source, [this](const TarEntry& entry, EntryData& data) { applier_.apply(entry, data); }, spec_.name);
    applier_.finish();
    result_.applied = applier_.stats();
    result_.applied_at = ChunkQueue::Clock::now();
    applied_promise_.set_value();
    announced = true;
    source.drain();
  } catch (...) {
    apply_error_ = std::current_exception();
    tar_.fail(apply_error_);
    input_.fail(apply_error_);
    if (!announced) applied_promise_.set_exception(apply_error_);
  }
}

LayerResult LayerPipeline::wait() {
  decoder_.join();
  reader_.join();
  joined_ = true;
  if (decode_error_) std::rethrow_exception(decode_error_);
  if (apply_error_) std::rethrow_exception(apply_error_);
  const ChunkQueue::Waits input = input_.waits();
  result_.waited_for_input = input.consumer;
  result_.waited_for_decoder = input.producer;
  result_.waited_for_applier = tar_.waits().producer;
  // The entries may all be applied while the decoder still reads the
  // padding after the archive's end: the layer counts as applied once its
  // diff ID is checked too.
  result_.applied_at = std::max(result_.applied_at, result_.decoded_at);
  return result_;
}

}  // namespace gantry::unpack
