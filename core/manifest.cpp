#include "core/manifest.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/detail/json_quote.hpp"
#include "core/error.hpp"
#include "core/media_types.hpp"

namespace gantry::core {

namespace {

using nlohmann::json;

// What a value is, for "expected X, got Y": the value itself when it is short
// and harmless (numbers, booleans, a bounded prefix of a string), else its type.
std::string describe(const json& value) {
  if (value.is_string()) return detail::quoted(value.get_ref<const std::string&>());
  if (value.is_number() || value.is_boolean()) return value.dump();
  return value.type_name();
}

// A value in a parsed document together with where it sits, so that every
// error names its field ("manifest: layers[2].digest: ..."). The path is a
// chain of parent Nodes on the stack and becomes text only when an error needs
// it; a Node must therefore not outlive the Node it was reached from.
//
// Absent and JSON null are the same: Go's encoding/json, which wrote most
// images in the wild, treats both as "not set", and Docker writes null for an
// empty Cmd, Entrypoint, Labels, Volumes and more. Readers of optional values
// return an empty result for an absent Node; required ones fail.
class Node {
 public:
  Node(const json& root, std::string_view document) : value_(&root), name_(document) {}

  [[nodiscard]] bool present() const { return value_ != nullptr; }
  [[nodiscard]] const json* value() const { return value_; }

  // A member of this object (absent when this Node is absent).
  [[nodiscard]] Node field(std::string_view key) const {
    const json& members = object();
    auto it = members.find(key);
    return Node(*this, it == members.end() || it->is_null() ? nullptr : &*it, Step::field, key);
  }

  // The number of elements of this array (0 when absent), then each element.
  [[nodiscard]] std::size_t length() const {
    if (!present()) return 0;
    if (!value_->is_array()) fail("expected a JSON array, got " + describe(*value_));
    return value_->size();
  }
  [[nodiscard]] Node element(std::size_t i) const {
    Node node(*this, &(*value_)[i], Step::element, {});
    node.index_ = i;
    return node;
  }

  const Node& required() const {
    if (!present()) fail("required field is missing");
    return *this;
  }

  [[nodiscard]] std::string text() const {
    if (!present()) return {};
    if (!value_->is_string()) fail("expected a string, got " + describe(*value_));
    return value_->get<std::string>();
  }

  // A string that decides behaviour (a media type, an os): present and non-empty.
  [[nodiscard]] std::string required_text() const {
    std::string out = required().text();
    if (out.empty()) fail("must not be empty");
    return out;
  }

  [[nodiscard]] std::vector<std::string> strings() const {
    std::vector<std::string> out(length());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = element(i).text();
    return out;
  }

  // A string-to-string object (annotations, labels).
  [[nodiscard]] std::map<std::string, std::string> string_map() const {
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : object().items()) {
      if (!value.is_string()) entry(key, value).fail("expected a string, got " + describe(value));
      out.emplace(key, value.template get<std::string>());
    }
    return out;
  }

  // The keys of an object whose values carry nothing (ExposedPorts, Volumes:
  // config.md defines them as maps to empty objects).
  [[nodiscard]] std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& item : object().items()) out.push_back(item.key());
    return out;
  }

  // Runs a parser of this value (Digest::parse, layer_compression) and moves
  // its Error under this path, keeping its kind.
  template <class Parse>
  decltype(auto) guard(Parse&& parse) const {
    try {
      return std::forward<Parse>(parse)();
    } catch (const Error& error) {
      fail(error.message(), error.kind());
    }
  }

  // A non-negative int64 (descriptor.md: size is int64; a negative size or a
  // float would let a blob's length check mean nothing).
  [[nodiscard]] std::int64_t size() const {
    const json& value = *required().value_;
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() > kMax) {
      fail("expected a non-negative integer, got " + describe(value));
    }
    return static_cast<std::int64_t>(value.get<std::uint64_t>());
  }

  [[nodiscard]] Digest digest() const {
    std::string text = required().text();
    return guard([&] { return Digest::parse(text); });
  }

  [[noreturn]] void fail(std::string_view what, ErrorKind kind = ErrorKind::bad_input) const {
    std::string message = path();
    message += ": ";
    message += what;
    throw Error(kind, message);
  }

 private:
  enum class Step { root, field, entry, element };

  Node(const Node& parent, const json* value, Step step, std::string_view name)
      : value_(value), parent_(&parent), step_(step), name_(name) {}

  // A member of a map the document defines (annotations, labels); its key is
  // untrusted text, so it is shown quoted and bounded.
  [[nodiscard]] Node entry(const std::string& key, const json& value) const {
    return Node(*this, &value, Step::entry, key);
  }

  // This object, or an empty one when absent.
  [[nodiscard]] const json& object() const {
    static const json kEmpty = json::object();
    if (!present()) return kEmpty;
    if (!value_->is_object()) fail("expected a JSON object, got " + describe(*value_));
    return *value_;
  }

  // "manifest", "manifest: layers", "manifest: layers[2].digest",
  // "manifest: annotations[\"org.example\"]".
  [[nodiscard]] std::string path() const {
    if (step_ == Step::root) return std::string(name_);
    std::string out = parent_->path();
    const bool top = parent_->step_ == Step::root;
    switch (step_) {
      case Step::field: out.append(top ? ": " : ".").append(name_); break;
      case Step::entry: out.append(top ? ": [" : "[").append(detail::quoted(name_)).append("]"); break;
      case Step::element: out.append("[").append(std::to_string(index_)).append("]"); break;
      case Step::root: break;
    }
    return out;
  }

  const json* value_;
  const Node* parent_ = nullptr;
  Step step_ = Step::root;
  std::string_view name_;  // the document's name at the root, else the key
  std::size_t index_ = 0;
};

json parse_document(std::string_view text, std::size_t limit, std::string_view document) {
  const std::string name(document);
  if (text.size() > limit) {
    throw Error(ErrorKind::bad_input, name + ": " + std::to_string(text.size()) + " bytes is over the limit of " +
                                          std::to_string(limit) + " bytes");
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& error) {
    // nlohmann counts bytes from 1, and the end of input as one past the last.
    throw Error(ErrorKind::bad_input, name + ": invalid JSON at byte " + std::to_string(error.byte) +
                                          (error.byte > text.size() ? " (unexpected end of input)" : ""));
  } catch (const json::out_of_range&) {
    // A number beyond a double's range (nlohmann's error 406) is no
    // parse_error (found by tests/fuzz/manifest_fuzz.cpp).
    throw Error(ErrorKind::bad_input, name + ": invalid JSON: a number out of range");
  }
}

void check_schema_version(const Node& root) {
  Node version = root.field("schemaVersion");
  const json& value = *version.required().value();
  if (value.is_number_unsigned() && value.get<std::uint64_t>() == 2) return;
  // Another integer is a real format we do not read (Docker schema 1);
  // anything else is a broken document.
  version.fail("must be 2, got " + describe(value),
               value.is_number_integer() ? ErrorKind::unsupported : ErrorKind::bad_input);
}

// Media types arrive as HTTP Content-Type values: drop any parameters
// ("; charset=utf-8") and surrounding blanks before comparing.
std::string_view bare(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  auto first = content_type.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  auto last = content_type.find_last_not_of(" \t");
  return content_type.substr(first, last - first + 1);
}

// The two kinds of manifest-shaped document.
struct Kind {
  std::string_view name;  // "an image manifest"
  bool (*is)(std::string_view);
  std::string_view fallback;  // when neither the document nor the caller says
  std::span<const std::string_view> foreign_fields;  // the other kind's members
};

constexpr std::string_view kIndexMembers[] = {"manifests"};
constexpr std::string_view kManifestMembers[] = {"config", "layers"};
constexpr Kind kManifestKind{"an image manifest", media_type::is_manifest, media_type::kOciManifest, kIndexMembers};
constexpr Kind kIndexKind{"an image index", media_type::is_index, media_type::kOciIndex, kManifestMembers};

// Fails unless `type` names a document of this kind: bad_input when it names
// the other kind (a mix-up or an attack), unsupported when it is unknown.
void expect_kind(const Node& at, const Kind& kind, std::string_view type, std::string_view what) {
  if (kind.is(type)) return;
  const bool known = media_type::is_manifest(type) || media_type::is_index(type);
  at.fail(std::string(what) + " " + detail::quoted(type) + " is not " + std::string(kind.name),
          known ? ErrorKind::bad_input : ErrorKind::unsupported);
}

// The document's own media type, checked against the declared one and
// against its shape. CVE-2021-41190 (image-spec 1.0.2): a document that could
// be read both as a manifest and as an index lets two clients see different
// images under one digest, so a manifest must not carry "manifests" and an
// index must carry neither "config" nor "layers", and a mediaType field must
// agree with the Content-Type it was served with.
std::string document_media_type(const Node& root, const Kind& kind, std::string_view content_type) {
  const std::string_view declared = bare(content_type);
  if (!declared.empty()) expect_kind(root, kind, declared, "content type");
  Node field = root.field("mediaType");
  std::string own = field.text();
  if (field.present()) {
    expect_kind(field, kind, own, "media type");
    if (!declared.empty() && own != declared) {
      field.fail(detail::quoted(own) + " does not match the content type " + detail::quoted(declared));
    }
  }
  for (std::string_view foreign : kind.foreign_fields) {
    if (root.field(foreign).present()) {
      root.field(foreign).fail("must not appear in " + std::string(kind.name) + " (CVE-2021-41190)");
    }
  }
  if (!own.empty()) return own;
  return std::string(declared.empty() ? kind.fallback : declared);
}

// Platform fields (image-index.md#platform-variants; config.md uses the same
// names at its top level).
Platform parse_platform(const Node& node) {
  return Platform{
      .os = node.field("os").required_text(),
      .architecture = node.field("architecture").required_text(),
      .variant = node.field("variant").text(),
      .os_version = node.field("os.version").text(),
      .os_features = node.field("os.features").strings(),
  };
}

// descriptor.md#properties. Unknown members ("data", "features") are ignored.
Descriptor parse_descriptor(const Node& node) {
  node.required();
  Node platform = node.field("platform");
  return Descriptor{
      .media_type = node.field("mediaType").required_text(),
      .digest = node.field("digest").digest(),
      .size = node.field("size").size(),
      .urls = node.field("urls").strings(),
      .annotations = node.field("annotations").string_map(),
      .platform = platform.present() ? std::optional<Platform>(parse_platform(platform)) : std::nullopt,
      .artifact_type = node.field("artifactType").text(),
  };
}

std::vector<Descriptor> parse_descriptors(const Node& array) {
  std::vector<Descriptor> out;
  out.reserve(array.required().length());
  for (std::size_t i = 0; i < array.length(); ++i) out.push_back(parse_descriptor(array.element(i)));
  return out;
}

// BuildKit stores provenance and SBOM attestations as index entries with a
// real manifest media type and the platform "unknown/unknown"
// (buildkit docs/attestations/attestation-storage.md); they are never an image to run.
bool is_attestation(const Descriptor& entry) {
  auto it = entry.annotations.find("vnd.docker.reference.type");
  return it != entry.annotations.end() && it->second == "attestation-manifest";
}

bool is_runnable_entry(const Descriptor& entry) {
  return entry.platform.has_value() && media_type::is_manifest(entry.media_type) && !is_attestation(entry);
}

}  // namespace

Manifest parse_manifest(std::string_view json_text, std::string_view content_type) {
  const json doc = parse_document(json_text, kMaxManifestSize, "manifest");
  const Node root(doc, "manifest");
  check_schema_version(root);
  std::string type = document_media_type(root, kManifestKind, content_type);

  Node config_node = root.field("config");
  Descriptor config = parse_descriptor(config_node);
  if (!media_type::is_config(config.media_type)) {
    config_node.field("mediaType")
        .fail("not a container image (config media type " + detail::quoted(config.media_type) + ")",
              ErrorKind::unsupported);
  }

  Node layers_node = root.field("layers");
  std::vector<Descriptor> layers = parse_descriptors(layers_node);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    // The unpacker picks its decoder from this; an unknown type is refused
    // here, before any byte is fetched (manifest.md: layers[].mediaType).
    layers_node.element(i).field("mediaType").guard([&] {
      return media_type::layer_compression(layers[i].media_type);
    });
  }

  return Manifest{
      .media_type = std::move(type),
      .config = std::move(config),
      .layers = std::move(layers),
      .annotations = root.field("annotations").string_map(),
  };
}

Index parse_index(std::string_view json_text, std::string_view content_type) {
  const json doc = parse_document(json_text, kMaxManifestSize, "index");
  const Node root(doc, "index");
  check_schema_version(root);
  std::string type = document_media_type(root, kIndexKind, content_type);
  return Index{
      .media_type = std::move(type),
      .manifests = parse_descriptors(root.field("manifests")),
      .annotations = root.field("annotations").string_map(),
  };
}

ImageConfig parse_config(std::string_view json_text) {
  const json doc = parse_document(json_text, kMaxConfigSize, "config");
  const Node root(doc, "config");
  Node runtime = root.field("config");  // config.md: "config" may be absent or null

  Node rootfs = root.field("rootfs");
  rootfs.required();
  Node rootfs_type = rootfs.field("type");
  if (std::string type = rootfs_type.required_text(); type != "layers") {
    rootfs_type.fail("must be \"layers\", got " + detail::quoted(type));
  }
  Node diff_ids_node = rootfs.field("diff_ids");
  std::vector<Digest> diff_ids;
  diff_ids.reserve(diff_ids_node.required().length());
  for (std::size_t i = 0; i < diff_ids_node.length(); ++i) diff_ids.push_back(diff_ids_node.element(i).digest());

  return ImageConfig{
      .platform = parse_platform(root),
      .user = runtime.field("User").text(),
      .env = runtime.field("Env").strings(),
      .entrypoint = runtime.field("Entrypoint").strings(),
      .cmd = runtime.field("Cmd").strings(),
      .working_dir = runtime.field("WorkingDir").text(),
      .labels = runtime.field("Labels").string_map(),
      .stop_signal = runtime.field("StopSignal").text(),
      .exposed_ports = runtime.field("ExposedPorts").keys(),
      .volumes = runtime.field("Volumes").keys(),
      .diff_ids = std::move(diff_ids),
  };
}

std::string detect_manifest_type(std::string_view json_text, std::string_view content_type) {
  const std::string_view declared = bare(content_type);
  if (media_type::is_manifest(declared) || media_type::is_index(declared)) return std::string(declared);

  // Registries that serve "application/json" or "text/plain" (static mirrors,
  // some proxies): the document has to say what it is.
  const json doc = parse_document(json_text, kMaxManifestSize, "manifest");
  const Node root(doc, "manifest");
  Node field = root.field("mediaType");
  if (std::string own = field.text(); !own.empty()) {
    if (!media_type::is_manifest(own) && !media_type::is_index(own)) {
      field.fail("unsupported manifest media type " + detail::quoted(own), ErrorKind::unsupported);
    }
    return own;
  }
  if (const json* version = root.field("schemaVersion").value(); version != nullptr && *version == 1) {
    root.fail("Docker image manifest schema 1 is not supported", ErrorKind::unsupported);
  }
  // OCI manifests before image-spec 1.0.2 may omit mediaType; the shape
  // decides, and a document with both shapes is refused (CVE-2021-41190).
  const bool index_shaped = root.field("manifests").present();
  const bool manifest_shaped = root.field("config").present() || root.field("layers").present();
  if (index_shaped && manifest_shaped) {
    root.fail("has both \"manifests\" and \"config\"/\"layers\": ambiguous (CVE-2021-41190)");
  }
  if (index_shaped) return std::string(media_type::kOciIndex);
  if (manifest_shaped) return std::string(media_type::kOciManifest);
  root.fail("neither an image manifest nor an image index");
}

const Descriptor* find_platform(const Index& index, const Platform& want) {
  const std::string wanted_variant = normalize(want).variant;
  const Descriptor* first_match = nullptr;
  for (const Descriptor& entry : index.manifests) {
    if (!is_runnable_entry(entry) || !matches(want, *entry.platform)) continue;
    if (normalize(*entry.platform).variant == wanted_variant) return &entry;
    if (first_match == nullptr) first_match = &entry;
  }
  return first_match;
}

std::vector<Descriptor> runnable_entries(const Index& index) {
  std::vector<Descriptor> out;
  for (const Descriptor& entry : index.manifests) {
    if (is_runnable_entry(entry)) out.push_back(entry);
  }
  return out;
}

const Descriptor& select_platform(const Index& index, const Platform& want) {
  if (const Descriptor* found = find_platform(index, want)) return *found;

  std::vector<std::string> offered;
  for (const Descriptor& entry : index.manifests) {
    if (!is_runnable_entry(entry)) continue;
    std::string platform = entry.platform->string();
    if (std::find(offered.begin(), offered.end(), platform) == offered.end()) offered.push_back(std::move(platform));
  }
  std::string message = "no image for platform " + want.string() + " in the index; it offers ";
  if (offered.empty()) message += "no runnable platform";
  for (std::size_t i = 0; i < offered.size(); ++i) message += (i == 0 ? "" : ", ") + offered[i];
  throw Error(ErrorKind::not_found, message);
}

std::vector<Digest> chain_ids(const std::vector<Digest>& diff_ids) {
  std::vector<Digest> out;
  out.reserve(diff_ids.size());
  for (const Digest& diff_id : diff_ids) {
    out.push_back(out.empty() ? diff_id : digest_of(out.back().string() + " " + diff_id.string()));
  }
  return out;
}

}  // namespace gantry::core
