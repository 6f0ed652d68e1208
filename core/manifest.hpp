#pragma once
// The JSON documents of an image: manifest (OCI or Docker schema 2), index
// (OCI index or Docker manifest list) and image config. Parsers are strict
// where a field decides behaviour, tolerant of unknown extra fields, and name
// the offending field in their Error(bad_input).

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/descriptor.hpp"
#include "core/digest.hpp"
#include "core/platform.hpp"

namespace gantry::core {

inline constexpr std::size_t kMaxManifestSize = 4 * 1024 * 1024;  // as distribution's registry
inline constexpr std::size_t kMaxConfigSize = 8 * 1024 * 1024;

struct Manifest {
  std::string media_type;  // kOciManifest or kDockerManifest
  Descriptor config;
  std::vector<Descriptor> layers;  // base layer first
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::string media_type;  // kOciIndex or kDockerManifestList
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

struct ImageConfig {
  Platform platform;  // os, architecture, variant, os.version, os.features
  // config.* (the runtime defaults); absent fields stay empty
  std::string user;
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  // rootfs.diff_ids, one per layer, base first (rootfs.type must be "layers")
  std::vector<Digest> diff_ids;
};

// content_type: the media type the registry or a descriptor declared (HTTP
// parameters such as "; charset=utf-8" are ignored); when empty the
// document's own mediaType field decides. A mismatch between the two is an
// error, and so is a manifest carrying "manifests" or an index carrying
// "config"/"layers" (CVE-2021-41190). Absent and JSON null fields are the
// same; unknown fields are ignored. Throws Error(bad_input) naming the field
// path ("manifest: layers[2].digest: ..."), Error(unsupported) for a config or
// layer media type gantry cannot unpack.
[[nodiscard]] Manifest parse_manifest(std::string_view json, std::string_view content_type = {});
[[nodiscard]] Index parse_index(std::string_view json, std::string_view content_type = {});
[[nodiscard]] ImageConfig parse_config(std::string_view json);

// The media type of a manifest-or-index document: the declared content type
// when it is one gantry knows, else the document's mediaType field (and, for
// documents that carry neither, "manifests" vs "config"/"layers" decides; a
// document with both is refused). Docker schema 1 is Error(unsupported).
[[nodiscard]] std::string detect_manifest_type(std::string_view json, std::string_view content_type);

// The index entry for the wanted platform: the first entry that matches(),
// preferring an exact variant match. Only image manifests with a platform
// count (nested indexes, artifacts and BuildKit attestations are skipped).
// Error(not_found) listing the platforms the index offers when none matches.
[[nodiscard]] const Descriptor& select_platform(const Index& index, const Platform& want);
// The same choice; nullptr when no entry matches.
[[nodiscard]] const Descriptor* find_platform(const Index& index, const Platform& want);
// The entries select_platform chooses among, in the index's order: one per
// image the index offers (what `--all-platforms` pulls, what `images` lists).
[[nodiscard]] std::vector<Descriptor> runnable_entries(const Index& index);

// OCI image-spec config.md#layer-chainid: ChainID(L0) = DiffID(L0),
// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
[[nodiscard]] std::vector<Digest> chain_ids(const std::vector<Digest>& diff_ids);

}  // namespace gantry::core
