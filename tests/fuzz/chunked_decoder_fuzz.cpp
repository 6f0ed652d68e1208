// A chunked HTTP body (registry/detail/chunked_decoder), decoded the way the
// body reader meets it: in reads of any size. The input is decoded twice,
// in one read and in reads of 1 to 7 bytes (framing split anywhere); both
// must agree on the body, on where it ends and on whether it is malformed.
#include <algorithm>
#include <optional>
#include <vector>

#include "fuzz_input.hpp"
#include "registry/detail/chunked_decoder.hpp"

using namespace gantry;

namespace {

struct Decoded {
  std::vector<std::byte> body;
  std::size_t consumed = 0;
  bool done = false;
  bool malformed = false;
  friend bool operator==(const Decoded&, const Decoded&) = default;
};

// Decodes `input` in reads of read_size(i) bytes for the i-th read.
template <typename ReadSize>
Decoded decode(std::span<const std::byte> input, ReadSize&& read_size) {
  Decoded result;
  registry::detail::ChunkedDecoder decoder;
  std::vector<std::byte> buffer;
  try {
    for (std::size_t i = 0; result.consumed < input.size() && !decoder.done(); ++i) {
      const std::size_t n = std::min(read_size(i), input.size() - result.consumed);
      buffer.assign(input.begin() + static_cast<std::ptrdiff_t>(result.consumed),
                    input.begin() + static_cast<std::ptrdiff_t>(result.consumed + n));
      const auto step = decoder.decode(buffer);
      fuzz::require(step.data <= step.consumed && step.consumed <= n, "data <= consumed <= given");
      fuzz::require(step.consumed == n || decoder.done(), "all input consumed unless done");
      result.body.insert(result.body.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(step.data));
      result.consumed += step.consumed;
    }
  } catch (const core::Error&) {
    result.malformed = true;
  }
  result.done = decoder.done();
  if (result.malformed) {  // how far it got before may differ
    result.body.clear();
    result.consumed = 0;
  }
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = fuzz::bytes(data, size);
  const Decoded whole = decode(input, [&](std::size_t) { return input.size(); });
  const Decoded split = decode(input, [](std::size_t i) { return i % 7 + 1; });
  fuzz::require(whole == split, "the same result whatever the read sizes");
  return 0;
}
