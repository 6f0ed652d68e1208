#include "engine/import.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "core/reference.hpp"

namespace gantry::engine {
namespace {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorKind;

// oci-layout, index.json, manifest.json: small documents, read whole.
constexpr std::size_t kMaxDocument = core::kMaxManifestSize;
constexpr std::size_t kChunk = 1 << 20;
constexpr std::string_view kLayoutVersion = "1.0.0";

// The documents of a layout (an archive's, or a directory's).
struct Documents {
  std::optional<std::string> layout;
  std::optional<std::string> index;
  std::optional<std::string> docker;  // manifest.json
};

// "blobs/<algorithm>/<hex>" (also with a leading "./") as a digest.
std::optional<core::Digest> blob_name_digest(std::string_view name) {
  if (name.starts_with("./")) name.remove_prefix(2);
  if (!name.starts_with("blobs/")) return std::nullopt;
  name.remove_prefix(6);
  const std::size_t slash = name.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  try {
    return core::Digest::parse(std::string(name.substr(0, slash)) + ":" + std::string(name.substr(slash + 1)));
  } catch (const Error&) {
    return std::nullopt;
  }
}

// One blob from `read` (it fills a buffer, 0 at the end) into the store,
// verified by its writer. False when the store had it: `read` was not
// called, the caller skips the bytes.
bool store_blob(core::ContentStore& store, const core::Digest& digest, std::int64_t size,
                const std::function<std::size_t(char*, std::size_t)>& read) {
  core::IngestResult ingest = store.begin_ingest(digest, size);
  if (ingest.state == core::IngestState::already_present) return false;
  if (ingest.state == core::IngestState::busy) {
    throw Error(ErrorKind::io, "another process is writing this blob into the store; try again",
                {.digest = digest.string()});
  }
  core::BlobWriter& writer = *ingest.writer;
  if (writer.offset() > 0) writer.discard();  // a partial download's prefix: the archive has it whole
  std::vector<char> buffer(kChunk);
  for (std::size_t n; (n = read(buffer.data(), buffer.size())) > 0;) writer.write(buffer.data(), n);
  writer.commit();
  return true;
}

// Whether the image `entry` names is wholly in the store now (what a
// reference to it needs): an index with at least one of its images.
void check_complete(const core::ContentStore& store, const core::Descriptor& entry, int depth = 0) {
  if (!store.has_blob(entry.digest)) {
    throw Error(ErrorKind::not_found, "the archive lacks a blob an image needs (" + entry.media_type + ")",
                {.digest = entry.digest.string()});
  }
  if (core::media_type::is_index(entry.media_type)) {
    if (depth > 0) throw Error(ErrorKind::unsupported, "an index inside an index", {.digest = entry.digest.string()});
    const core::Index index = core::parse_index(store.read_blob(entry.digest, core::kMaxManifestSize), entry.media_type);
    bool any = false;
    for (const core::Descriptor& child : core::runnable_entries(index)) {
      if (!store.has_blob(child.digest)) continue;
      check_complete(store, child, depth + 1);
      any = true;
    }
    if (!any) {
      throw Error(ErrorKind::not_found, "none of the index's images is in the archive", {.digest = entry.digest.string()});
    }
    return;
  }
  if (!core::media_type::is_manifest(entry.media_type)) {
    throw Error(ErrorKind::unsupported, "index.json names a " + entry.media_type + ", not an image",
                {.digest = entry.digest.string()});
  }
  const core::Manifest manifest =
      core::parse_manifest(store.read_blob(entry.digest, core::kMaxManifestSize), entry.media_type);
  (void)store.read_blob(manifest.config.digest, core::kMaxConfigSize);  // present and whole
  for (const core::Descriptor& layer : manifest.layers) {
    if (!store.has_blob(layer.digest)) {
      throw Error(ErrorKind::not_found, "the archive lacks a layer of an image", {.digest = layer.digest.string()});
    }
  }
}

// manifest.json's RepoTags by the config each names ("blobs/sha256/<hex>").
std::map<core::Digest, std::vector<std::string>> docker_tags(const std::optional<std::string>& text) {
  std::map<core::Digest, std::vector<std::string>> out;
  if (!text) return out;
  const nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
  if (!doc.is_array()) throw Error(ErrorKind::bad_input, "manifest.json is not a JSON array");
  for (const nlohmann::json& item : doc) {
    if (!item.is_object() || !item.contains("Config") || !item["Config"].is_string()) continue;
    const std::optional<core::Digest> config = blob_name_digest(item["Config"].get<std::string>());
    if (!config || !item.contains("RepoTags") || !item["RepoTags"].is_array()) continue;
    for (const nlohmann::json& tag : item["RepoTags"]) {
      if (tag.is_string()) out[*config].push_back(tag.get<std::string>());
    }
  }
  return out;
}

// The names an index.json entry gives its image, normalised.
std::vector<std::string> names_of(const core::ContentStore& store, const core::Descriptor& entry,
                                  const std::map<core::Digest, std::vector<std::string>>& tags) {
  auto annotation = [&](std::string_view key) -> std::optional<std::string> {
    auto it = entry.annotations.find(std::string(key));
    return it == entry.annotations.end() ? std::nullopt : std::optional(it->second);
  };
  std::vector<std::string> names;
  if (auto full = annotation("io.containerd.image.name")) {
    names.push_back(*full);
  } else if (auto ref = annotation(core::kRefNameAnnotation); ref && ref->find('/') != std::string::npos) {
    names.push_back(*ref);  // a whole reference, not docker save's bare tag
  } else if (core::media_type::is_manifest(entry.media_type)) {
    const core::Manifest manifest =
        core::parse_manifest(store.read_blob(entry.digest, core::kMaxManifestSize), entry.media_type);
    if (auto it = tags.find(manifest.config.digest); it != tags.end()) names = it->second;
  }
  if (names.empty()) {
    throw Error(ErrorKind::bad_input,
                "an image has no name (no io.containerd.image.name, whole ref.name or RepoTags): nothing was recorded",
                {.digest = entry.digest.string()});
  }
  for (std::string& name : names) name = core::Reference::parse(name).string();
  return names;
}

// The layout's documents checked, every image in it checked complete,
// then every name recorded.
std::vector<ImportedImage> record(core::ContentStore& store, const Documents& documents) {
  if (!documents.layout) throw Error(ErrorKind::bad_input, "not an OCI image layout: no oci-layout");
  const nlohmann::json layout = nlohmann::json::parse(*documents.layout, nullptr, false);
  if (!layout.is_object() || layout.value("imageLayoutVersion", "") != kLayoutVersion) {
    throw Error(ErrorKind::bad_input, "oci-layout is not imageLayoutVersion " + std::string(kLayoutVersion));
  }
  if (!documents.index) throw Error(ErrorKind::bad_input, "not an OCI image layout: no index.json");
  const core::Index index = core::parse_index(*documents.index, core::media_type::kOciIndex);
  const auto tags = docker_tags(documents.docker);
  std::vector<ImportedImage> out;
  for (const core::Descriptor& entry : index.manifests) {
    check_complete(store, entry);
    core::Descriptor target = entry;
    target.annotations.clear();
    for (std::string& name : names_of(store, entry, tags)) out.push_back({.name = std::move(name), .target = target});
  }
  if (out.empty()) throw Error(ErrorKind::bad_input, "index.json names no image");
  for (const ImportedImage& image : out) store.set_ref(image.name, image.target);
  return out;
}

template <class F>
auto in_context(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw core::prefixed(e, what);
  }
}

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::string small_document(archive* a, const std::string& name) {
  std::string out;
  char buffer[65536];
  for (la_ssize_t n; (n = archive_read_data(a, buffer, sizeof buffer)) != 0;) {
    if (n < 0) throw Error(ErrorKind::bad_input, std::string("cannot read the archive: ") + archive_error_string(a));
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > kMaxDocument) {
      throw Error(ErrorKind::bad_input, name + " is larger than " + std::to_string(kMaxDocument) + " bytes");
    }
  }
  return out;
}

}  // namespace

std::vector<ImportedImage> import_archive(core::ContentStore& store, int fd, const std::string& what) {
  return in_context(what, [&] {
    std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_fd(a.get(), fd, kChunk) != ARCHIVE_OK) {
      throw Error(ErrorKind::bad_input, std::string("not a tar archive: ") + archive_error_string(a.get()));
    }
    Documents documents;
    archive_entry* entry = nullptr;
    for (int rc; (rc = archive_read_next_header(a.get(), &entry)) != ARCHIVE_EOF;) {
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        throw Error(ErrorKind::bad_input, std::string("not a tar archive: ") + archive_error_string(a.get()));
      }
      if (archive_entry_filetype(entry) != AE_IFREG) continue;
      std::string name = archive_entry_pathname(entry);
      if (name.starts_with("./")) name.erase(0, 2);
      if (name == "oci-layout") {
        documents.layout = small_document(a.get(), name);
      } else if (name == "index.json") {
        documents.index = small_document(a.get(), name);
      } else if (name == "manifest.json") {
        documents.docker = small_document(a.get(), name);
      } else if (std::optional<core::Digest> digest = blob_name_digest(name)) {
        store_blob(store, *digest, archive_entry_size(entry), [&](char* buffer, std::size_t size) {
          const la_ssize_t n = archive_read_data(a.get(), buffer, size);
          if (n < 0) {
            throw Error(ErrorKind::bad_input, std::string("cannot read the archive: ") + archive_error_string(a.get()));
          }
          return static_cast<std::size_t>(n);
        });
      }
      // Anything else (Docker's legacy files, directories) is not needed.
    }
    return record(store, documents);
  });
}

std::vector<ImportedImage> import_layout(core::ContentStore& store, const fs::path& dir) {
  return in_context(dir.string(), [&] {
    auto document = [&](std::string_view name) { return core::read_file(dir / name, kMaxDocument); };
    Documents documents{.layout = document("oci-layout"), .index = document("index.json"),
                        .docker = document("manifest.json")};
    if (!documents.index) throw Error(ErrorKind::bad_input, "not an OCI image layout: no index.json");
    const core::Index index = core::parse_index(*documents.index, core::media_type::kOciIndex);
    // Only what index.json reaches is copied, each blob checked by the
    // store's writer as it goes; documents are parsed from the store.
    std::function<void(const core::Descriptor&, bool)> copy = [&](const core::Descriptor& d, bool optional) {
      const fs::path path = dir / "blobs" / std::string(core::to_string(d.digest.algorithm())) / d.digest.hex();
      auto [fd, err] = core::try_open(path, O_RDONLY | O_NOFOLLOW);
      if (!fd) {
        if (err == ENOENT && (optional || store.has_blob(d.digest))) return;
        if (err == ENOENT) {
          throw Error(ErrorKind::not_found, "the layout lacks a blob", {.digest = d.digest.string(), .path = path.string()});
        }
        throw core::errno_error(err, "cannot open", path.string());
      }
      store_blob(store, d.digest, d.size, [&](char* buffer, std::size_t size) {
        ssize_t n;
        do {
          n = ::read(fd.get(), buffer, size);
        } while (n < 0 && errno == EINTR);
        if (n < 0) throw core::errno_error(errno, "cannot read", path.string());
        return static_cast<std::size_t>(n);
      });
      if (core::media_type::is_index(d.media_type)) {
        const core::Index inner = core::parse_index(store.read_blob(d.digest, core::kMaxManifestSize), d.media_type);
        for (const core::Descriptor& child : core::runnable_entries(inner)) copy(child, true);  // platforms not kept
      } else if (core::media_type::is_manifest(d.media_type)) {
        const core::Manifest manifest =
            core::parse_manifest(store.read_blob(d.digest, core::kMaxManifestSize), d.media_type);
        copy(manifest.config, false);
        for (const core::Descriptor& layer : manifest.layers) copy(layer, false);
      }
    };
    for (const core::Descriptor& entry : index.manifests) copy(entry, false);
    return record(store, documents);
  });
}

}  // namespace gantry::engine
