#include "engine/export.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/detail/descriptor_json.hpp"
#include "core/detail/file_publish.hpp"
#include "core/file_handle.hpp"
#include "engine/detail/ustar_header.hpp"

namespace gantry::engine {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr std::size_t kBlock = detail::kTarBlock;

// A POSIX ustar stream (detail/ustar_header.hpp) written in order: a pipe
// is fine.
class TarStream {
 public:
  TarStream(int fd, std::stop_token stop) : fd_(fd), stop_(std::move(stop)), buffer_(1 << 20) {}

  void directory(std::string_view name) { header(name, '5', 0, 0755); }

  void file(std::string_view name, std::string_view bytes) {
    header(name, '0', static_cast<std::int64_t>(bytes.size()), 0644);
    write(bytes.data(), bytes.size());
    pad(static_cast<std::int64_t>(bytes.size()));
  }

  // The blob's file copied through a fixed buffer, checked against its
  // descriptor as it goes: a store file altered since it was verified must
  // not leave as that digest.
  void blob(std::string_view name, const core::ContentStore& store, const core::Descriptor& blob) {
    throw_if_stopped();
    const fs::path path = store.blob_path(blob.digest);
    auto [fd, err] = core::try_open(path, O_RDONLY | O_CLOEXEC);
    if (!fd) {
      if (err == ENOENT) {
        throw core::Error(core::ErrorKind::not_found, "blob not in the store",
                          {.digest = blob.digest.string(), .path = path.string()});
      }
      throw core::errno_error(err, "cannot open", path.string());
    }
    if (core::stat_handle(fd.get(), path).st_size != blob.size) {
      throw core::Error(core::ErrorKind::digest_mismatch,
                        "stored blob's size differs from its descriptor's " + std::to_string(blob.size),
                        {.digest = blob.digest.string(), .path = path.string()});
    }
    header(name, '0', blob.size, 0644);
    core::Hasher hasher(blob.digest.algorithm());
    std::int64_t left = blob.size;
    while (left > 0) {
      throw_if_stopped();
      const std::size_t want = std::min<std::int64_t>(left, static_cast<std::int64_t>(buffer_.size()));
      const std::size_t got = core::read_full(fd.get(), buffer_.data(), want, path);
      if (got != want) {
        throw core::Error(core::ErrorKind::io, "stored blob shrank while read", {.digest = blob.digest.string(), .path = path.string()});
      }
      hasher.update(buffer_.data(), got);
      write(buffer_.data(), got);
      left -= static_cast<std::int64_t>(got);
    }
    const core::Digest actual = hasher.finish();
    if (actual != blob.digest) {
      throw core::Error(core::ErrorKind::digest_mismatch, "stored blob hashes to " + actual.string(),
                        {.digest = blob.digest.string(), .path = path.string()});
    }
    pad(blob.size);
  }

  // Two zero blocks end a tar archive.
  void finish() {
    const std::array<char, 2 * kBlock> end{};
    write(end.data(), end.size());
  }

 private:
  void throw_if_stopped() const {
    if (stop_.stop_requested()) throw core::Error(core::ErrorKind::io, "interrupted");
  }

  void header(std::string_view name, char type, std::int64_t size, unsigned mode) {
    const std::array<char, kBlock> h = detail::ustar_header(name, type, size, mode);
    write(h.data(), h.size());
  }

  void pad(std::int64_t size) {
    const std::array<char, kBlock> zeros{};
    const std::size_t rest = static_cast<std::size_t>(size % static_cast<std::int64_t>(kBlock));
    if (rest != 0) write(zeros.data(), kBlock - rest);
  }

  void write(const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw core::errno_error(errno, "cannot write the archive");
      }
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  int fd_;
  std::stop_token stop_;
  std::vector<char> buffer_;
};

std::string blob_name(const core::Digest& digest) {
  return "blobs/" + std::string(core::to_string(digest.algorithm())) + "/" + digest.hex();
}

// The manifest's descriptor as the image was resolved, named as `docker save`
// (25 and later) names it: the full reference for containerd, the tag for
// OCI tools (`skopeo copy oci-archive:FILE:TAG`); a reference by digest
// alone has no tag to give.
json index_entry(const registry::ResolvedImage& image) {
  core::Descriptor entry{.media_type = image.manifest_descriptor.media_type,
                         .digest = image.manifest_descriptor.digest,
                         .size = static_cast<std::int64_t>(image.manifest_bytes.size()),
                         .annotations = {{"io.containerd.image.name", image.reference.string()}},
                         .platform = image.platform};
  if (!image.reference.tag.empty()) entry.annotations.emplace(core::kRefNameAnnotation, image.reference.tag);
  return core::detail::descriptor_to_json(entry);
}

// Docker's `docker save` form: config and layers by path, named by tag.
json docker_entry(const registry::ResolvedImage& image) {
  json layers = json::array();
  for (const core::Descriptor& layer : image.manifest.layers) layers.push_back(blob_name(layer.digest));
  json tags = json::array();
  if (!image.reference.tag.empty()) tags.push_back(image.reference.name() + ":" + image.reference.tag);
  return json{{"Config", blob_name(image.manifest.config.digest)}, {"RepoTags", tags}, {"Layers", layers}};
}

}  // namespace

void write_image_archive(const core::ContentStore& store, std::span<const registry::ResolvedImage> images, int fd,
                         std::stop_token stop) {
  json manifests = json::array();
  json docker = json::array();
  std::set<std::string> named;
  for (const registry::ResolvedImage& image : images) {
    if (!named.insert(image.reference.string()).second) continue;  // asked for twice
    manifests.push_back(index_entry(image));
    docker.push_back(docker_entry(image));
  }
  const json index{{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}, {"manifests", manifests}};

  // The small documents first, so a reader streaming the archive knows the
  // images before their blobs arrive.
  TarStream tar(fd, std::move(stop));
  tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  tar.file("index.json", index.dump());
  tar.file("manifest.json", docker.dump());
  tar.directory("blobs/");
  std::set<std::string> dirs;
  std::set<std::string> written;
  for (const registry::ResolvedImage& image : images) {
    std::vector<core::Descriptor> blobs{image.manifest_descriptor, image.manifest.config};
    blobs.front().size = static_cast<std::int64_t>(image.manifest_bytes.size());
    blobs.insert(blobs.end(), image.manifest.layers.begin(), image.manifest.layers.end());
    for (const core::Descriptor& blob : blobs) {
      const std::string name = blob_name(blob.digest);
      if (!written.insert(name).second) continue;  // shared with an image already written
      const std::string dir = "blobs/" + std::string(core::to_string(blob.digest.algorithm())) + "/";
      if (dirs.insert(dir).second) tar.directory(dir);
      tar.blob(name, store, blob);
    }
  }
  tar.finish();
}

void export_image_archive(const core::ContentStore& store, std::span<const registry::ResolvedImage> images,
                          const fs::path& file, std::stop_token stop) {
  const fs::path target = fs::absolute(file);
  const fs::path temp = target.string() + ".tmp";
  core::FileHandle fd = core::open_file(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  try {
    write_image_archive(store, images, fd.get(), std::move(stop));
    core::sync_data(fd.get(), temp);
    fd.reset();
    core::detail::rename_durably(temp, target);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

}  // namespace gantry::engine
