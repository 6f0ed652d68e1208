#include "unpack/detail/fs_path.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.hpp"

namespace gantry::unpack::detail {

CleanPath clean_path(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) {
    throw core::Error(core::ErrorKind::bad_input, "entry name holds a NUL byte",
                      core::ErrorContext{.path = std::string(name)});
  }
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  while (pos <= name.size()) {
    std::size_t end = std::min(name.find('/', pos), name.size());
    std::string_view part = name.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      // ".." at the root stays at the root, as the kernel does for "/..".
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  CleanPath out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i + 1 == parts.size()) {
      out.parent = out.full;
      if (!out.full.empty()) out.full += '/';
      out.base_pos = out.full.size();
    } else if (i > 0) {
      out.full += '/';
    }
    out.full += parts[i];
  }
  return out;
}

std::string join_path(std::string_view parent, std::string_view name) {
  std::string out;
  out.reserve(parent.size() + 1 + name.size());
  out += parent;
  if (!out.empty()) out += '/';
  out += name;
  return out;
}

std::size_t path_depth(std::string_view cleaned) noexcept {
  if (cleaned.empty()) return 0;
  return static_cast<std::size_t>(std::count(cleaned.begin(), cleaned.end(), '/')) + 1;
}

std::string PathTree::key(std::uint64_t parent, std::string_view name) {
  std::string k(sizeof parent, '\0');
  std::memcpy(k.data(), &parent, sizeof parent);
  k.append(name);
  return k;
}

void PathTree::insert(std::string_view path) {
  std::uint64_t id = 0;
  for (std::size_t start = 0; start < path.size();) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    auto [node, added] = nodes_.try_emplace(key(id, path.substr(start, slash - start)), next_id_);
    if (added) ++next_id_;
    id = node->second;
    start = slash + 1;
  }
}

bool PathTree::contains(std::string_view path) const {
  std::uint64_t id = 0;
  for (std::size_t start = 0; start < path.size();) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    auto node = nodes_.find(key(id, path.substr(start, slash - start)));
    if (node == nodes_.end()) return false;
    id = node->second;
    start = slash + 1;
  }
  return !path.empty();
}

}  // namespace gantry::unpack::detail
