// A layer blob's compressed bytes (unpack/decoder*), built once per codec
// (GANTRY_FUZZ_CODEC: gzip, zstd). The input is decoded twice, whole into
// a large output buffer and in pieces of 1 to 13 bytes into a small one;
// the decoder streams, so both must give the same bytes, the same end and
// the same verdict on corrupt data.
#include <algorithm>
#include <vector>

#include "core/media_types.hpp"
#include "fuzz_input.hpp"
#include "unpack/decoder.hpp"

using namespace gantry;

namespace {

constexpr auto kCodec = core::media_type::Compression::GANTRY_FUZZ_CODEC;
// A decompression bomb is the applier's limit to stop, not this target's.
constexpr std::size_t kMaxOutput = 8 << 20;

struct Decoded {
  std::vector<std::byte> bytes;
  bool finished = false;
  bool corrupt = false;
  bool capped = false;
};

template <typename PieceSize>
Decoded decode(std::span<const std::byte> input, std::size_t out_size, PieceSize&& piece_size) {
  Decoded result;
  const auto decoder = unpack::make_decoder(kCodec);
  std::vector<std::byte> out(out_size);
  std::size_t pos = 0;
  try {
    for (std::size_t i = 0;; ++i) {
      const auto in = input.subspan(pos, std::min(piece_size(i), input.size() - pos));
      const auto step = decoder->decode(in, out);
      fuzz::require(step.consumed <= in.size() && step.produced <= out.size(), "within the spans given");
      fuzz::require(step.consumed > 0 || step.produced > 0 || in.empty(), "progress while input is left");
      pos += step.consumed;
      result.bytes.insert(result.bytes.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(step.produced));
      if (result.bytes.size() > kMaxOutput) {
        result.capped = true;
        break;
      }
      if (in.empty() && step.produced == 0) break;  // flushed
    }
  } catch (const core::Error&) {
    result.corrupt = true;
  }
  result.finished = decoder->finished();
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = fuzz::bytes(data, size);
  fuzz::expect_only_gantry_errors([&] { unpack::check_magic(kCodec, input.first(std::min<std::size_t>(size, 3))); });
  const Decoded whole = decode(input, 64 << 10, [&](std::size_t) { return input.size(); });
  const Decoded pieces = decode(input, 1000, [](std::size_t i) { return i % 13 + 1; });
  if (whole.capped || pieces.capped) return 0;
  fuzz::require(whole.corrupt == pieces.corrupt, "corrupt whatever the pieces");
  if (whole.corrupt) return 0;
  fuzz::require(whole.finished == pieces.finished, "finished whatever the pieces");
  fuzz::require(whole.bytes == pieces.bytes, "the same bytes whatever the pieces");
  return 0;
}
