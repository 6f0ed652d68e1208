#pragma once
// Listing below a directory handle. Removing goes through
// core::remove_tree_at, never through a link: a symlink is unlinked, not
// followed, so a whiteout or a type change cannot delete what a hostile
// symlink points at (image-spec layer.md, whiteouts; the deletion half of
// CVE-2018-15664), and a tree of any depth goes in constant memory.

#include <string>
#include <string_view>
#include <vector>

namespace gantry::unpack::detail {

// The names in a directory, without "." and "..". `what` names the
// directory in errors.
[[nodiscard]] std::vector<std::string> list_dir(int dir_fd, std::string_view what);

}  // namespace gantry::unpack::detail
