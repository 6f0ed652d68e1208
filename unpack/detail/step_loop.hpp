#pragma once
// The loop shared by the gzip and zstd decoders around their codec's single
// call. ISA-L and ZSTD_decompressStream both return at the end of each gzip
// member or zstd frame, even with input left, so one call is not enough to
// carry a stream of several members forward; calling again while input and
// output both remain does it.

#include <span>

#include "unpack/decoder.hpp"

namespace gantry::unpack::detail {

// Calls `step(in_rest, out_rest) -> DecodeStep` until the input is used up,
// the output is full, or a call moves nothing.
template <typename Step>
DecodeStep step_until_stalled(std::span<const std::byte> in, std::span<std::byte> out, Step&& step) {
  DecodeStep total;
  for (;;) {
    const DecodeStep s = step(in.subspan(total.consumed), out.subspan(total.produced));
    total.consumed += s.consumed;
    total.produced += s.produced;
    const bool moved = s.consumed != 0 || s.produced != 0;
    if (!moved || total.consumed == in.size() || total.produced == out.size()) return total;
  }
}

}  // namespace gantry::unpack::detail
