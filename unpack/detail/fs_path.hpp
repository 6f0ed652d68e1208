#pragma once
// Tar names made relative to the applier's root, lexically. A name is
// untrusted: it may be absolute, hold "." and ".." components or repeated
// slashes. Cleaning strips a leading "/" and "./", drops "." and empty
// components and collapses ".." (never above the root, as Go's
// filepath.Clean on "/"+name, which containerd and umoci use). Cleaning alone
// is not the safety: symlinks inside the root may still point anywhere, so
// every resolution of a cleaned name goes through openat2(RESOLVE_IN_ROOT)
// (fs_resolve.hpp).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gantry::unpack::detail {

struct CleanPath {
  std::string full;    // "a/b/c"; empty for the root itself
  std::string parent;  // "a/b"; empty when the parent is the root
  std::size_t base_pos = 0;

  [[nodiscard]] bool is_root() const noexcept { return full.empty(); }
  // The last component, NUL-terminated for the *at() calls.
  [[nodiscard]] const char* base() const noexcept { return full.c_str() + base_pos; }
  [[nodiscard]] std::string_view base_view() const noexcept { return std::string_view(full).substr(base_pos); }
};

// Throws Error(bad_input) naming `name` if it holds a NUL byte (a C string
// would silently end there and name another file).
[[nodiscard]] CleanPath clean_path(std::string_view name);

// "a/b" + "c" -> "a/b/c"; "" + "c" -> "c".
[[nodiscard]] std::string join_path(std::string_view parent, std::string_view name);

// Components of a cleaned path: "" -> 0, "a" -> 1, "a/b" -> 2.
[[nodiscard]] std::size_t path_depth(std::string_view cleaned) noexcept;

// A set of cleaned paths that holds each path's ancestors too, as a tree of
// names: a path shares its ancestors' nodes, so memory grows with the bytes
// of the names added. (A set of full strings holds every prefix of a deep
// path again: a 4 KiB name of 2,000 components would cost 4 MB.)
class PathTree {
 public:
  // Adds `path` and its ancestors.
  void insert(std::string_view path);
  // Whether `path` was added, itself or as an ancestor of one.
  [[nodiscard]] bool contains(std::string_view path) const;

 private:
  // A node's key: its parent's id (8 bytes) and its name.
  [[nodiscard]] static std::string key(std::uint64_t parent, std::string_view name);
  std::unordered_map<std::string, std::uint64_t> nodes_;
  std::uint64_t next_id_ = 1;  // 0: the root
};

}  // namespace gantry::unpack::detail
