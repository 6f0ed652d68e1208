#pragma once
// Changes to an image's rootfs before its process starts, made with every
// path resolved inside the rootfs (openat2 RESOLVE_IN_ROOT), never through
// the image's symlinks to the host.

#include <filesystem>
#include <string_view>

namespace gantry::runtime {

// Creates the directory `path` (absolute, inside the rootfs) and its missing
// parents, mode 0755, owned by the caller (as Docker creates a missing
// WorkingDir). Symlinks of the image on the way are followed inside the
// rootfs; one that leads nowhere, or a non-directory in the way, is
// Error(bad_input).
void make_directory_in(const std::filesystem::path& rootfs, std::string_view path);

}  // namespace gantry::runtime
