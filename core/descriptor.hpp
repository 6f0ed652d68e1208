#pragma once
// A content descriptor (image-spec descriptor.md): what a manifest, index or
// ref says about a blob. The digest and size are checked against the bytes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/digest.hpp"
#include "core/platform.hpp"

namespace gantry::core {

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::int64_t size = 0;
  std::vector<std::string> urls{};
  std::map<std::string, std::string> annotations{};
  std::optional<Platform> platform{};  // only in index entries
  std::string artifact_type{};

  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

}  // namespace gantry::core
