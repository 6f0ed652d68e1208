#pragma once
// Removing trees an image wrote. Such a tree may hold directories without
// any permission (mode 000: even root's unlinkat fails inside them when
// they are on a filesystem that honours it, e.g. for a non-root caller), so
// directories are opened up before their content goes. Symlinks are never
// followed: only the tree itself is touched.

#include <filesystem>

namespace gantry::core {

// Leaves `dir` empty (it stays). Best effort: what cannot go stays.
void empty_directory(const std::filesystem::path& dir);

// Removes `dir` and everything in it; a missing `dir` is no error.
// Error(io) when something stays.
void remove_tree(const std::filesystem::path& dir);

}  // namespace gantry::core
