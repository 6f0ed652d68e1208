#pragma once
// Folder names of the store (core/store.hpp) and creating them, shared by
// the blob and snapshot halves of ContentStore.

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "core/error.hpp"

namespace gantry::core::detail {

inline std::filesystem::path ingest_dir(const std::filesystem::path& root) { return root / "ingest"; }
inline std::filesystem::path snapshots_dir(const std::filesystem::path& root) { return root / "snapshots"; }

// mkdir(2) that accepts an existing directory (another process may make it first).
inline void make_directory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    throw errno_error(errno, "cannot create directory", dir.string());
  }
}

}  // namespace gantry::core::detail
