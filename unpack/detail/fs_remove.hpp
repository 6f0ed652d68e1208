#pragma once
// Listing and removing below a directory handle, never through a link: a
// symlink is unlinked, not followed, so a whiteout or a type change cannot
// delete what a hostile symlink points at (image-spec layer.md, whiteouts;
// the deletion half of CVE-2018-15664).

#include <string>
#include <string_view>
#include <vector>

namespace gantry::unpack::detail {

// The names in a directory, without "." and "..". `what` names the
// directory in errors.
[[nodiscard]] std::vector<std::string> list_dir(int dir_fd, std::string_view what);

// Removes `name` below `dir_fd` and, for a directory, everything in it.
// Returns false when there was nothing to remove. Throws Error(io).
bool remove_all_at(int dir_fd, const char* name, std::string_view what);

}  // namespace gantry::unpack::detail
