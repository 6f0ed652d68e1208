#pragma once
// Removing trees an image or a container wrote: the one removal every part of
// gantry uses (unpack and snapshot staging, container dirs, emptying DIR, the
// applier's type changes and whiteouts).
//
// Such a tree is hostile: it may be deeper than PATH_MAX (symlink hops keep
// each name in the tar short), hold directories without any permission
// (mode 000), symlinks out of it, and — in a container's dir — mounts. So the
// walk is fd-relative and iterative, with memory and descriptors independent
// of the depth: it never builds a path, never follows a link (O_NOFOLLOW,
// unlinkat), never goes up through "..", and never crosses into another
// mount (a mount found inside is an error, its content stays).

#include <filesystem>
#include <string_view>

namespace gantry::core {

// Leaves `dir` empty (it stays; a symlink to a directory is followed, as
// the caller named it). Error(io) naming `dir` when something stays.
void empty_directory(const std::filesystem::path& dir);

// Removes `dir` and everything in it (a symlink or file there is unlinked,
// never followed); a missing `dir` is no error. Error(io) when something stays.
void remove_tree(const std::filesystem::path& dir);

// Removes `name` below the directory `dir_fd` and, for a directory,
// everything in it. Returns false when there was nothing to remove.
// Error(io) with `what` as its path.
bool remove_tree_at(int dir_fd, const char* name, std::string_view what);

}  // namespace gantry::core
