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

// A directory only the store's owner may enter: ingest/ and snapshots/ hold
// unpacked layers, whose device nodes (an image may ship a 0666 block node
// of a host disk), setuid files and world-writable dirs must not be reachable
// by other users of the host (containerd keeps its snapshotter's root 0700
// for the same reason). Overlayfs reads lower dirs with the mounter's
// credentials, so containers are not affected. A store made by an earlier
// gantry is tightened.
inline void make_private_directory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return;
  if (errno != EEXIST) throw errno_error(errno, "cannot create directory", dir.string());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw errno_error(errno, "cannot stat", dir.string());
  if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
    throw errno_error(errno, "cannot make private", dir.string());
  }
}

}  // namespace gantry::core::detail
