#pragma once
// One POSIX ustar header block, for the archives gantry export writes
// (engine/export.cpp). Internal to the engine.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gantry::engine::detail {

inline constexpr std::size_t kTarBlock = 512;

// `name` shorter than 100 bytes (no long-name extensions: blob names are
// 77); type '0' file or '5' directory; uid, gid and mtime 0. A size beyond
// ustar's 11 octal digits (8 GiB) is written in the base-256 form GNU tar,
// libarchive and Go's archive/tar (containerd, skopeo) read.
[[nodiscard]] std::array<char, kTarBlock> ustar_header(std::string_view name, char type, std::int64_t size,
                                                       unsigned mode);

}  // namespace gantry::engine::detail
