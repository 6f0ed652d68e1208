// Throughput of the layer decoders (MB/s of output) on a layer-like tar,
// fed as the fetcher delivers it: 1 MiB chunks in, a 1 MiB buffer out.
// Baselines: zlib's streaming inflate at the same chunking, and libdeflate
// and ZSTD_decompress on the whole buffer (what a non-streaming unpacker
// could do with the blob and its size at hand).
#include <benchmark/benchmark.h>

#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/decoder.hpp"

namespace {

using Bytes = std::vector<std::byte>;
using gantry::core::media_type::Compression;

constexpr std::size_t kLayerSize = 64 << 20;
constexpr std::size_t kChunk = 1 << 20;

class Rng {
 public:
  std::uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_ = 0x2545f4914f6cdd1dULL;
};

void append(Bytes& out, std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  out.insert(out.end(), p, p + text.size());
}

// Source and config text: indented lines of identifiers and keywords.
void text_body(Rng& rng, Bytes& out, std::size_t size) {
  static constexpr std::string_view kWords[] = {
      "def",    "return", "self",   "import", "from",   "if",      "else:",  "for",   "in",     "None",
      "True",   "value",  "config", "path",   "os",     "sys",     "data",   "name",  "=",      "==",
      "(",      "):",     "[",      "]",      "#",      "include", "static", "const", "struct", "error",
      "result", "buffer", "size_t", "while",  "string", "license", "usr",    "lib",   "share",  "python3"};
  const std::size_t end = out.size() + size;
  while (out.size() < end) {
    append(out, std::string(4 * rng.below(4), ' '));
    for (std::size_t words = 1 + rng.below(10); words > 0; --words) {
      append(out, kWords[rng.below(std::size(kWords))]);
      if (rng.below(8) == 0) append(out, std::to_string(rng.below(1000)));
      append(out, " ");
    }
    append(out, "\n");
  }
  out.resize(end);
}

// Machine code and data: a skewed opcode alphabet, addresses, zero padding.
void binary_body(Rng& rng, Bytes& out, std::size_t size) {
  const std::size_t end = out.size() + size;
  while (out.size() < end) {
    switch (rng.below(4)) {
      case 0: out.insert(out.end(), 16 + rng.below(240), std::byte{0}); break;
      case 1:
        for (int i = 0; i < 8; ++i) out.push_back(std::byte(rng.next() & 0xff));
        break;
      default:
        for (std::size_t n = 32 + rng.below(200); n > 0; --n) {
          const std::size_t r = rng.below(64);
          out.push_back(std::byte(r * r / 16));  // small values far more often
        }
    }
  }
  out.resize(end);
}

// Already compressed content (images, jars, .gz): incompressible.
void noise_body(Rng& rng, Bytes& out, std::size_t size) {
  for (std::size_t n = 0; n < size; ++n) out.push_back(std::byte(rng.next() & 0xff));
}

// A ustar header: enough of the real fields that a compressor sees the same
// repetition as in a layer.
void tar_header(Rng& rng, Bytes& out, std::size_t size) {
  char block[512] = {};
  std::snprintf(block, 100, "usr/lib/python3/dist-packages/pkg%zu/module%zu.py", rng.below(300), rng.below(5000));
  std::snprintf(block + 100, 8, "%07o", 0644u);
  std::snprintf(block + 108, 8, "%07o", 0u);
  std::snprintf(block + 116, 8, "%07o", 0u);
  std::snprintf(block + 124, 12, "%011zo", size);
  std::snprintf(block + 136, 12, "%011o", 1700000000u + static_cast<unsigned>(rng.below(1000000)));
  std::memcpy(block + 148, "        ", 8);
  block[156] = '0';
  std::memcpy(block + 257, "ustar\0" "00", 8);
  unsigned sum = 0;
  for (unsigned char c : block) sum += c;
  std::snprintf(block + 148, 8, "%06o", sum);
  const auto* p = reinterpret_cast<const std::byte*>(block);
  out.insert(out.end(), p, p + sizeof block);
}

// Files of 100 B to ~800 KiB (log-uniform): half text, three eighths binary,
// one eighth incompressible, each padded to 512 bytes; zeros at the end as
// the end-of-archive blocks. gzip -6 shrinks it about as much as a
// typical layer.
Bytes make_layer(std::size_t size) {
  Rng rng;
  Bytes out;
  out.reserve(size + (2 << 20));
  while (out.size() + 1024 < size) {
    const std::size_t file = std::min<std::size_t>(std::size_t{100} << rng.below(14), size - out.size() - 1024);
    tar_header(rng, out, file);
    const std::size_t kind = rng.below(8);
    if (kind < 4) text_body(rng, out, file);
    else if (kind < 7) binary_body(rng, out, file);
    else noise_body(rng, out, file);
    out.insert(out.end(), (512 - out.size() % 512) % 512, std::byte{0});
  }
  out.resize(size);  // the rest zeros: end-of-archive blocks
  return out;
}

Bytes gzip_compress(const Bytes& in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  Bytes out(deflateBound(&z, in.size()));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Bytes zstd_compress(const Bytes& in) {
  Bytes out(ZSTD_compressBound(in.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

// Built once: Go's gzip default level 6 (docker, containerd, buildkit) and
// zstd level 3 (containerd's and buildkit's default).
struct Corpus {
  Bytes tar = make_layer(kLayerSize);
  Bytes gzip = gzip_compress(tar);
  Bytes zstd = zstd_compress(tar);
};

const Corpus& corpus() {
  static const Corpus c;
  return c;
}

const Bytes& input_for(Compression compression) {
  switch (compression) {
    case Compression::gzip: return corpus().gzip;
    case Compression::zstd: return corpus().zstd;
    case Compression::none: return corpus().tar;
  }
  throw std::logic_error("compression");
}

void report(benchmark::State& state, const Bytes& in) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus().tar.size()));
  state.counters["ratio"] = static_cast<double>(corpus().tar.size()) / static_cast<double>(in.size());
}

// gantry's decoder, 1 MiB chunks in, state.range(1) bytes of room out.
void BM_Decoder(benchmark::State& state) {
  const auto compression = static_cast<Compression>(state.range(0));
  const Bytes& in = input_for(compression);
  Bytes room(static_cast<std::size_t>(state.range(1)));
  state.SetLabel(std::string(gantry::core::media_type::to_string(compression)));
  for (auto _ : state) {
    gantry::unpack::DecoderPtr decoder = gantry::unpack::make_decoder(compression);
    std::size_t produced = 0;
    for (std::size_t at = 0; at < in.size();) {
      const auto chunk = std::span(in).subspan(at, std::min(kChunk, in.size() - at));
      // Until the chunk is used and nothing more comes out.
      for (std::size_t used = 0;;) {
        const gantry::unpack::DecodeStep step = decoder->decode(chunk.subspan(used), room);
        benchmark::DoNotOptimize(room.data());
        used += step.consumed;
        produced += step.produced;
        if (step.consumed == 0 && step.produced == 0) break;
      }
      at += chunk.size();
    }
    if (!decoder->finished() || produced != corpus().tar.size()) state.SkipWithError("stream did not end");
  }
  report(state, in);
}
BENCHMARK(BM_Decoder)
    ->ArgNames({"codec", "out"})
    ->Args({static_cast<int>(Compression::gzip), 1 << 20})
    ->Args({static_cast<int>(Compression::gzip), 64 << 10})
    ->Args({static_cast<int>(Compression::zstd), 1 << 20})
    ->Args({static_cast<int>(Compression::zstd), 64 << 10})
    ->Args({static_cast<int>(Compression::none), 1 << 20})
    ->Unit(benchmark::kMillisecond);

// Baseline: zlib's streaming inflate, same chunking.
void BM_ZlibInflate(benchmark::State& state) {
  const Bytes& in = corpus().gzip;
  Bytes room(kChunk);
  for (auto _ : state) {
    z_stream z{};
    inflateInit2(&z, 15 + 16);
    std::size_t produced = 0;
    int rc = Z_OK;
    for (std::size_t at = 0; at < in.size() && rc != Z_STREAM_END; at += kChunk) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data() + at));
      z.avail_in = static_cast<uInt>(std::min(kChunk, in.size() - at));
      do {
        z.next_out = reinterpret_cast<Bytef*>(room.data());
        z.avail_out = static_cast<uInt>(room.size());
        rc = inflate(&z, Z_NO_FLUSH);
        benchmark::DoNotOptimize(room.data());
        produced += room.size() - z.avail_out;
      } while (rc == Z_OK && z.avail_out == 0);
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != corpus().tar.size()) state.SkipWithError("zlib failed");
  }
  report(state, in);
}
BENCHMARK(BM_ZlibInflate)->Unit(benchmark::kMillisecond);

// Baseline: libdeflate on the whole blob into a buffer of the whole layer.
void BM_LibdeflateWholeBuffer(benchmark::State& state) {
  const Bytes& in = corpus().gzip;
  Bytes out(corpus().tar.size());
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  for (auto _ : state) {
    std::size_t produced = 0;
    const auto rc = libdeflate_gzip_decompress(d, in.data(), in.size(), out.data(), out.size(), &produced);
    benchmark::DoNotOptimize(out.data());
    if (rc != LIBDEFLATE_SUCCESS || produced != out.size()) state.SkipWithError("libdeflate failed");
  }
  libdeflate_free_decompressor(d);
  report(state, in);
}
BENCHMARK(BM_LibdeflateWholeBuffer)->Unit(benchmark::kMillisecond);

// Baseline: zstd on the whole blob into a buffer of the whole layer.
void BM_ZstdWholeBuffer(benchmark::State& state) {
  const Bytes& in = corpus().zstd;
  Bytes out(corpus().tar.size());
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  for (auto _ : state) {
    const std::size_t n = ZSTD_decompressDCtx(dctx, out.data(), out.size(), in.data(), in.size());
    benchmark::DoNotOptimize(out.data());
    if (ZSTD_isError(n) || n != out.size()) state.SkipWithError("zstd failed");
  }
  ZSTD_freeDCtx(dctx);
  report(state, in);
}
BENCHMARK(BM_ZstdWholeBuffer)->Unit(benchmark::kMillisecond);

}  // namespace
