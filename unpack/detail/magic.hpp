#pragma once
// The first bytes of each layer format, shared by check_magic (decoder.cpp)
// and the decoders, which check them again at every gzip member and zstd frame.

#include <array>
#include <cstdint>

namespace gantry::unpack::detail {

// RFC 1952 §2.3.1: ID1 ID2 of every gzip member.
inline constexpr std::array<std::uint8_t, 2> kGzipMagic{0x1f, 0x8b};

// RFC 8878 §3.1.1: a zstd frame starts with 0xFD2FB528, little-endian.
inline constexpr std::array<std::uint8_t, 4> kZstdMagic{0x28, 0xb5, 0x2f, 0xfd};

// RFC 8878 §3.1.2: a skippable frame starts with 0x184D2A5?, little-endian,
// any low nibble; a zstd stream may begin with one.
inline constexpr std::array<std::uint8_t, 4> kZstdSkippableMagic{0x50, 0x2a, 0x4d, 0x18};
inline constexpr std::array<std::uint8_t, 4> kZstdSkippableMask{0xf0, 0xff, 0xff, 0xff};

}  // namespace gantry::unpack::detail
