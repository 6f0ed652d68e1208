#pragma once
// A descriptor as image-spec JSON (descriptor.md), for the files gantry
// writes: the store's index.json and an exported archive's index.json.

#include <nlohmann/json.hpp>

#include "core/descriptor.hpp"

namespace gantry::core::detail {

inline nlohmann::json platform_to_json(const Platform& p) {
  nlohmann::json j{{"architecture", p.architecture}, {"os", p.os}};
  if (!p.os_version.empty()) j["os.version"] = p.os_version;
  if (!p.os_features.empty()) j["os.features"] = p.os_features;
  if (!p.variant.empty()) j["variant"] = p.variant;
  return j;
}

inline nlohmann::json descriptor_to_json(const Descriptor& d) {
  nlohmann::json j{{"mediaType", d.media_type}, {"digest", d.digest.string()}, {"size", d.size}};
  if (!d.urls.empty()) j["urls"] = d.urls;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) j["platform"] = platform_to_json(*d.platform);
  if (!d.artifact_type.empty()) j["artifactType"] = d.artifact_type;
  return j;
}

}  // namespace gantry::core::detail
