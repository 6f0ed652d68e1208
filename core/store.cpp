#include "core/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "core/file_handle.hpp"
#include "core/detail/descriptor_json.hpp"
#include "core/detail/file_lock.hpp"
#include "core/detail/file_publish.hpp"
#include "core/detail/json_quote.hpp"
#include "core/detail/store_layout.hpp"
#include "core/error.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"

namespace gantry::core {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using detail::FileLock;
using detail::Publish;

// image-layout.md#oci-layout-file
constexpr std::string_view kLayoutVersion = "1.0.0";
constexpr std::string_view kLayoutJson = R"({"imageLayoutVersion":"1.0.0"})";
constexpr std::size_t kMaxLayoutSize = 4096;
// A resumed partial is re-hashed in chunks of this size.
constexpr std::size_t kResumeChunk = 1024 * 1024;

fs::path layout_path(const fs::path& root) { return root / "oci-layout"; }
fs::path index_path(const fs::path& root) { return root / "index.json"; }
using detail::ingest_dir;
using detail::make_directory;

// The same error, naming the digest it concerns.
Error with_digest(const Error& e, const Digest& digest) {
  ErrorContext context = e.context();
  context.digest = digest.string();
  return Error(e.kind(), e.message(), std::move(context));
}

Error mismatch_error(const Digest& expected, const Digest& actual, const fs::path& path) {
  return Error(ErrorKind::digest_mismatch, "content hashes to " + actual.string() + ", not to its digest",
               ErrorContext{.digest = expected.string(), .path = path.string()});
}

// False when there is no oci-layout file; throws for one gantry cannot use.
bool check_layout(const fs::path& root) {
  fs::path path = layout_path(root);
  std::optional<std::string> text = read_file(path, kMaxLayoutSize);
  if (!text) return false;
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  auto version = doc.is_object() ? doc.find("imageLayoutVersion") : doc.end();
  if (!doc.is_object() || version == doc.end() || !version->is_string()) {
    throw Error(ErrorKind::bad_input, "not an OCI image layout: oci-layout has no imageLayoutVersion",
                ErrorContext{.path = path.string()});
  }
  if (version->get<std::string>() != kLayoutVersion) {
    throw Error(ErrorKind::bad_input,
                "OCI image layout version " + detail::quoted(version->get_ref<const std::string&>()) +
                    " is not supported (gantry writes " +
                    std::string(kLayoutVersion) + ")",
                ErrorContext{.path = path.string()});
  }
  return true;
}

// image-spec annotations.md, org.opencontainers.image.ref.name:
//   ref       ::= component ("/" component)*
//   component ::= alphanum (separator alphanum)*
//   alphanum  ::= [A-Za-z0-9]+
//   separator ::= [-._:@+] | "--"
// Other tools (skopeo, umoci) reject an index.json holding anything else.
bool is_ref_name(std::string_view name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  bool need_alnum = true;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (alnum(c)) {
      need_alnum = false;
      continue;
    }
    if (need_alnum) return false;
    if (c == '-' && i + 1 < name.size() && name[i + 1] == '-') {
      ++i;
    } else if (std::string_view("/-._:@+").find(c) == std::string_view::npos) {
      return false;
    }
    need_alnum = true;
  }
  return !need_alnum;
}

bool has_ref_name(const json& entry, std::string_view name) {
  auto annotations = entry.find("annotations");
  if (annotations == entry.end() || !annotations->is_object()) return false;
  auto ref = annotations->find(kRefNameAnnotation);
  return ref != annotations->end() && ref->is_string() && ref->get_ref<const std::string&>() == name;
}

std::string index_text(const json& index) {
  // Annotations may carry any bytes; invalid UTF-8 must not abort the update.
  return index.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string empty_index() {
  return index_text({{"schemaVersion", 2}, {"mediaType", media_type::kOciIndex}, {"manifests", json::array()}});
}

// index.json's text; a missing file reads as an empty index. It is bounded
// like an index a registry serves, so that parse_index reads it.
std::string read_index(const fs::path& root) {
  std::optional<std::string> text = read_file(index_path(root), kMaxManifestSize);
  return text ? std::move(*text) : empty_index();
}

// index.json as a document to edit: fields and entries gantry does not model
// stay as they are, so other tools' refs survive our updates.
json index_document(const fs::path& root) {
  json index = json::parse(read_index(root), nullptr, /*allow_exceptions=*/false);
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array()) {
    throw Error(ErrorKind::bad_input, "index.json is not an OCI image index (no manifests array)",
                ErrorContext{.path = index_path(root).string()});
  }
  return index;
}

// Streams into ingest/<hex>.partial under the digest's lock; see BlobWriter.
class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(FileLock lock, Digest digest, std::int64_t expected_size, fs::path partial, fs::path blob)
      : lock_(std::move(lock)),
        digest_(std::move(digest)),
        expected_size_(expected_size),
        partial_(std::move(partial)),
        blob_(std::move(blob)),
        hasher_(digest_.algorithm()),
        fd_(open_file(partial_, O_RDWR | O_CREAT)) {
    resume();
  }

  [[nodiscard]] std::int64_t offset() const override { return offset_; }

  void write(const void* data, std::size_t size) override {
    require_open();
    if (size > static_cast<std::uint64_t>(expected_size_ - offset_)) {
      throw Error(ErrorKind::bad_input, "more bytes than the descriptor's size " + std::to_string(expected_size_),
                  context());
    }
    try {
      write_all_at(fd_.get(), data, size, offset_, partial_);
    } catch (const Error&) {
      // Drop whatever part of the chunk reached the file, so the partial
      // stays exactly the bytes that were hashed and can still be resumed.
      (void)::ftruncate(fd_.get(), offset_);
      throw;
    }
    hasher_.update(data, size);
    offset_ += static_cast<std::int64_t>(size);
  }

  void commit() override {
    require_open();
    if (offset_ != expected_size_) {
      throw Error(ErrorKind::bad_input,
                  "blob has " + std::to_string(offset_) + " bytes, the descriptor's size is " +
                      std::to_string(expected_size_),
                  context());
    }
    // From here on the writer is finished whatever happens.
    FileHandle fd = std::move(fd_);
    Digest actual = hasher_.finish();
    if (actual != digest_) {
      fd.reset();
      if (::unlink(partial_.c_str()) != 0) throw errno_error(errno, "cannot remove", partial_.string());
      lock_.remove_and_release();
      throw mismatch_error(digest_, actual, partial_);
    }
    sync_data(fd.get(), partial_);
    fd.reset();
    detail::rename_durably(partial_, blob_);
    lock_.remove_and_release();
  }

  void discard() override {
    require_open();
    if (::ftruncate(fd_.get(), 0) != 0) throw errno_error(errno, "cannot truncate", partial_.string());
    hasher_ = Hasher(digest_.algorithm());
    offset_ = 0;
  }

 private:
  // Re-hashes the bytes a previous writer left, so writing carries on after
  // them. A partial longer than the descriptor says cannot be a prefix of
  // this blob: start over.
  void resume() {
    struct stat st = stat_handle(fd_.get(), partial_);
    if (st.st_size > expected_size_) {
      if (::ftruncate(fd_.get(), 0) != 0) throw errno_error(errno, "cannot truncate", partial_.string());
      return;
    }
    std::vector<char> buffer(kResumeChunk);
    while (std::size_t n = read_full(fd_.get(), buffer.data(), buffer.size(), partial_)) {
      hasher_.update(buffer.data(), n);
      offset_ += static_cast<std::int64_t>(n);
    }
  }

  void require_open() const {
    if (!fd_) throw std::logic_error("BlobWriter used after commit() for " + digest_.string());
  }

  [[nodiscard]] ErrorContext context() const {
    return ErrorContext{.digest = digest_.string(), .path = partial_.string()};
  }

  FileLock lock_;
  Digest digest_;
  std::int64_t expected_size_;
  fs::path partial_;
  fs::path blob_;
  Hasher hasher_;
  FileHandle fd_;
  std::int64_t offset_ = 0;
};

// index.json read, changed by `change` (false: nothing to write) and
// published, under the index lock.
void update_index(const fs::path& root, const std::function<bool(json& index)>& change) {
  // Read-modify-write under the lock, so concurrent updates all survive;
  // readers take no lock, the rename keeps them from seeing a torn file.
  fs::path ingest = ingest_dir(root);
  FileLock lock = FileLock::acquire(ingest / "index.lock");
  json index = index_document(root);
  if (!change(index)) return;  // nothing changed: no write, no fsync
  std::string text = index_text(index);
  if (text.size() > kMaxManifestSize) {
    throw Error(ErrorKind::bad_input, "index.json would grow past " + std::to_string(kMaxManifestSize) + " bytes",
                ErrorContext{.path = index_path(root).string()});
  }
  detail::publish_file(ingest, index_path(root), text, Publish::replace);
}

}  // namespace

ContentStore::ContentStore(std::filesystem::path root, StoreLease lease)
    : root_(std::move(root)), lease_(lease == StoreLease::taken ? std::make_shared<Lease>(root_) : nullptr) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw errno_error(ec.value(), "cannot create the store", root_.string());

  // Two processes may create one store at once: each file appears complete
  // through link(2), and the loser of the race reads the winner's.
  // A folder holding another layout version is refused before anything is
  // created in it.
  fs::path ingest = ingest_dir(root_);
  bool have_layout = check_layout(root_);
  detail::make_private_directory(ingest);
  if (!have_layout) {
    detail::publish_file(ingest, layout_path(root_), kLayoutJson, Publish::keep_existing);
    check_layout(root_);
  }
  make_directory(root_ / "blobs");
  for (DigestAlgorithm algorithm : {DigestAlgorithm::sha256, DigestAlgorithm::sha512}) {
    make_directory(root_ / "blobs" / to_string(algorithm));
  }
  struct stat st {};
  if (::stat(index_path(root_).c_str(), &st) != 0) {
    if (errno != ENOENT) throw errno_error(errno, "cannot stat", index_path(root_).string());
    detail::publish_file(ingest, index_path(root_), empty_index(), Publish::keep_existing);
  }
}

std::filesystem::path ContentStore::default_root() {
  auto env = [](const char* name) -> std::string_view {
    const char* value = std::getenv(name);
    return value ? value : "";
  };
  if (auto store = env("GANTRY_STORE"); !store.empty()) return store;
  if (::geteuid() == 0) return "/var/lib/gantry";
  // XDG Base Directory spec: a relative path in the variable is invalid and
  // must be ignored.
  if (auto data = env("XDG_DATA_HOME"); !data.empty() && data.front() == '/') return fs::path(data) / "gantry";
  if (auto home = env("HOME"); !home.empty()) return fs::path(home) / ".local" / "share" / "gantry";
  throw Error(ErrorKind::bad_input, "cannot choose a store directory: set GANTRY_STORE or HOME");
}

std::filesystem::path ContentStore::blob_path(const Digest& digest) const {
  hold(digest);  // every use of a blob goes through its path
  return root_ / "blobs" / to_string(digest.algorithm()) / digest.hex();
}

bool ContentStore::has_blob(const Digest& digest) const {
  struct stat st {};
  return ::stat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string ContentStore::read_blob(const Digest& digest, std::size_t max_size) const {
  fs::path path = blob_path(digest);
  std::optional<std::string> bytes;
  try {
    bytes = read_file(path, max_size);
  } catch (const Error& e) {
    throw with_digest(e, digest);
  }
  if (!bytes) {
    throw Error(ErrorKind::not_found, "blob is not in the store",
                ErrorContext{.digest = digest.string(), .path = path.string()});
  }
  // Blobs are trusted only as far as they hash right: the disk may have been
  // altered since they were verified.
  if (Digest actual = digest_of(*bytes, digest.algorithm()); actual != digest) {
    throw mismatch_error(digest, actual, path);
  }
  return std::move(*bytes);
}

void ContentStore::put_blob(const Digest& digest, std::string_view bytes) {
  if (Digest actual = digest_of(bytes, digest.algorithm()); actual != digest) {
    throw mismatch_error(digest, actual, {});
  }
  if (has_blob(digest)) return;
  detail::publish_file(ingest_dir(root_), blob_path(digest), bytes, Publish::replace);
}

std::filesystem::path ContentStore::partial_path(const Digest& digest) const {
  return ingest_dir(root_) / (digest.hex() + ".partial");
}

IngestResult ContentStore::begin_ingest(const Digest& digest, std::int64_t expected_size) {
  if (expected_size < 0) {
    throw Error(ErrorKind::bad_input, "negative blob size " + std::to_string(expected_size),
                ErrorContext{.digest = digest.string()});
  }
  fs::path ingest = ingest_dir(root_);
  std::optional<FileLock> lock = FileLock::try_acquire(ingest / (digest.hex() + ".lock"));
  if (!lock) return {IngestState::busy, nullptr};
  // Only now is the answer final: the previous holder may have just committed.
  if (has_blob(digest)) {
    lock->remove_and_release();
    return {IngestState::already_present, nullptr};
  }
  return {IngestState::writer_ready,
          std::make_unique<FileBlobWriter>(std::move(*lock), digest, expected_size,
                                           partial_path(digest), blob_path(digest))};
}

void ContentStore::set_ref(std::string_view name, const Descriptor& manifest) {
  if (!is_ref_name(name)) {
    throw Error(ErrorKind::bad_input, "invalid ref name " + detail::quoted(name) +
                                          ": want components of [A-Za-z0-9] joined by one of -._:@+ or --, "
                                          "separated by /");
  }
  Descriptor entry = manifest;
  entry.annotations[std::string(kRefNameAnnotation)] = std::string(name);
  json value = detail::descriptor_to_json(entry);

  update_index(root_, [&](json& index) {
    json& manifests = index["manifests"];
    // The same entry already there (a warm pull or run).
    if (std::count_if(manifests.begin(), manifests.end(), [&](const json& m) { return has_ref_name(m, name); }) ==
            1 &&
        std::find(manifests.begin(), manifests.end(), value) != manifests.end()) {
      return false;
    }
    bool replaced = false;
    for (auto it = manifests.begin(); it != manifests.end();) {
      if (!has_ref_name(*it, name)) {
        ++it;
      } else if (!replaced) {
        *it = value;
        replaced = true;
        ++it;
      } else {
        it = manifests.erase(it);
      }
    }
    if (!replaced) manifests.push_back(std::move(value));
    return true;
  });
}

std::vector<Descriptor> ContentStore::remove_refs(const std::function<bool(const Descriptor&)>& which) {
  std::vector<Descriptor> removed;
  update_index(root_, [&](json& index) {
    // The entries as descriptors, in the file's order, to be judged.
    const std::vector<Descriptor> entries = [&] {
      try {
        return parse_index(index_text(index)).manifests;
      } catch (const Error& e) {
        throw Error(e.kind(), e.message(), ErrorContext{.path = index_path(root_).string()});
      }
    }();
    json kept = json::array();
    json& manifests = index["manifests"];
    for (std::size_t i = 0; i < manifests.size(); ++i) {
      if (which(entries.at(i))) {
        removed.push_back(entries[i]);
      } else {
        kept.push_back(std::move(manifests[i]));
      }
    }
    manifests = std::move(kept);
    return !removed.empty();
  });
  return removed;
}

std::optional<Descriptor> ContentStore::find_ref(std::string_view name) const {
  for (Descriptor& d : refs()) {
    if (ref_name(d) == name) return std::move(d);
  }
  return std::nullopt;
}

std::vector<Descriptor> ContentStore::refs() const {
  std::string text = read_index(root_);
  try {
    return parse_index(text).manifests;
  } catch (const Error& e) {
    throw Error(e.kind(), e.message(), ErrorContext{.path = index_path(root_).string()});
  }
}

}  // namespace gantry::core
