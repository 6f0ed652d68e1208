#pragma once
// Removing and measuring trees an image or a container wrote: the one removal
// every part of gantry uses (unpack and snapshot staging, container dirs,
// emptying DIR, the applier's type changes and whiteouts, gc), and the disk
// use gc and df report.
//
// Such a tree is hostile: it may be deeper than PATH_MAX (symlink hops keep
// each name in the tar short), hold directories without any permission
// (mode 000), symlinks out of it, and — in a container's dir — mounts. So the
// walk is fd-relative and iterative, with memory and descriptors independent
// of the depth: it never builds a path, never follows a link (O_NOFOLLOW,
// unlinkat), never goes up through "..", and never crosses into another
// mount (a mount found inside is an error, its content stays).

#include <cstdint>
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

struct TreeUsage {
  std::int64_t bytes = 0;    // allocated (st_blocks), each inode once however many links
  std::int64_t entries = 0;  // every name, the top included
};
// What `dir` takes on disk, itself and everything below it on its mount.
// Read-only, with one directory open at a time: it goes back up through
// "..", checked to be the directory it came down from (a tree renamed
// under the walk is Error(io), never a walk outside it), so memory grows
// by a few bytes per level of depth and never with the width. A directory
// it cannot open (mode 000 without CAP_DAC_OVERRIDE) counts itself only.
// A missing `dir` is zero.
[[nodiscard]] TreeUsage tree_usage(const std::filesystem::path& dir);

}  // namespace gantry::core
