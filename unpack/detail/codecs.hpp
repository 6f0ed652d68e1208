#pragma once
// One factory per codec file, for make_decoder (decoder.cpp); the classes
// stay out of sight in their own files.

#include "unpack/decoder.hpp"

namespace gantry::unpack::detail {

[[nodiscard]] DecoderPtr make_gzip_decoder();      // decoder_gzip.cpp
[[nodiscard]] DecoderPtr make_zstd_decoder();      // decoder_zstd.cpp
[[nodiscard]] DecoderPtr make_identity_decoder();  // decoder_identity.cpp

}  // namespace gantry::unpack::detail
