#pragma once
// Reading a small file of an image's rootfs with the path resolved inside
// it: openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from the rootfs's
// handle, so symlinks and ".." of the image never lead out to the host.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "core/file_handle.hpp"

namespace gantry::runtime::detail {

// nullopt when the file does not exist. Error(bad_input) when it is larger
// than max_size or not a regular file, Error(io) otherwise.
// Opens `relative` inside the rootfs (`root`: its O_PATH handle) with
// `flags`; the handle and errno (0 on success).
[[nodiscard]] std::pair<core::FileHandle, int> open_in_rootfs(int root, const std::string& relative, int flags);

[[nodiscard]] std::optional<std::string> read_rootfs_file(const std::filesystem::path& rootfs,
                                                          const std::string& relative, std::size_t max_size);

}  // namespace gantry::runtime::detail
