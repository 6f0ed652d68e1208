#include "engine/gc.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/detail/file_lock.hpp"
#include "core/detail/file_publish.hpp"
#include "core/detail/store_layout.hpp"
#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "core/file_tree.hpp"
#include "core/lease.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "core/store.hpp"

namespace gantry::engine {
namespace {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorKind;

constexpr std::string_view kContainerImageFile = "image";
// An index inside an index inside ... : deeper than any image tool writes.
constexpr int kMaxIndexDepth = 8;

// What the references reach: digests of blobs and chain IDs of snapshots,
// as "sha256:<hex>".
struct Marks {
  std::set<std::string> blobs;
  std::set<std::string> snapshots;
};

class Marker {
 public:
  explicit Marker(const core::ContentStore& store) : store_(store) {}

  void mark_ref(const core::Descriptor& entry) {
    const std::string name = core::ref_name(entry).value_or(entry.digest.string());
    try {
      mark(entry, 0);
    } catch (const Error& e) {
      throw Error(e.kind(), "gc: cannot tell what " + name + " reaches, so nothing was removed: " + e.message(),
                  e.context());
    }
  }
  [[nodiscard]] const Marks& marks() const { return marks_; }

 private:
  // A document absent from the store reaches nothing more (an index's
  // platforms never pulled; an entry another tool wrote for a blob it did
  // not keep).
  void mark(const core::Descriptor& d, int depth) {
    if (!marks_.blobs.insert(d.digest.string()).second || !store_.has_blob(d.digest)) return;
    if (core::media_type::is_index(d.media_type)) {
      if (depth >= kMaxIndexDepth) throw Error(ErrorKind::bad_input, "indexes nested too deep");
      const core::Index index = core::parse_index(store_.read_blob(d.digest, core::kMaxManifestSize), d.media_type);
      for (const core::Descriptor& child : index.manifests) mark(child, depth + 1);
    } else if (core::media_type::is_manifest(d.media_type)) {
      const core::Manifest manifest =
          core::parse_manifest(store_.read_blob(d.digest, core::kMaxManifestSize), d.media_type);
      marks_.blobs.insert(manifest.config.digest.string());
      for (const core::Descriptor& layer : manifest.layers) marks_.blobs.insert(layer.digest.string());
      if (!core::media_type::is_config(manifest.config.media_type) || !store_.has_blob(manifest.config.digest)) return;
      const core::ImageConfig config =
          core::parse_config(store_.read_blob(manifest.config.digest, core::kMaxConfigSize));
      for (const core::Digest& chain : core::chain_ids(config.diff_ids)) marks_.snapshots.insert(chain.string());
    }
  }

  const core::ContentStore& store_;
  Marks marks_;
};

std::int64_t file_bytes(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_blocks * 512 : 0;
}

class Sweeper {
 public:
  Sweeper(const Marks& marks, const core::LiveLeases& leases, GcOptions options)
      : marks_(marks), leases_(leases), options_(options) {}

  void blobs(const fs::path& root, StoreUse& use) {
    for_each_digest(root / "blobs", [&](const fs::path& path, const std::string& digest) {
      const bool keep = marks_.blobs.contains(digest) || leases_.held.contains(digest);
      account(use, keep, file_bytes(path), [&] { remove_file(path); });
    });
  }

  void snapshots(const fs::path& root, StoreUse& use) {
    for_each_digest(root / "snapshots", [&](const fs::path& path, const std::string& chain) {
      const bool keep = marks_.snapshots.contains(chain) || leases_.held.contains(chain);
      account(use, keep, 0, [&] { core::remove_tree(path); }, path);
    });
  }

  // ingest/: partial downloads and staging dirs of snapshot builders, named
  // by the hex of their digest; the lock files stay (their holders remove
  // them).
  void partials(const fs::path& root, StoreUse& use) {
    const fs::path ingest = root / "ingest";
    for (const fs::directory_entry& entry : list(ingest)) {
      const std::string name = entry.path().filename().string();
      if (name.ends_with(".partial")) {
        const std::string hex = name.substr(0, name.size() - 8);
        const bool keep = held_hex(hex, leases_.held);
        account(use, keep, file_bytes(entry.path()), [&] { remove_file(entry.path()); });
      } else if (name.ends_with(".snapshot")) {
        const std::string hex = name.substr(0, name.size() - 9);
        if (held_hex(hex, leases_.held)) {
          account(use, true, 0, [] {}, entry.path());
          continue;
        }
        // A builder holds its chain ID's lock for as long as it works.
        std::optional<core::detail::FileLock> lock =
            options_.dry_run ? std::nullopt : core::detail::FileLock::try_acquire(ingest / (name + ".lock"));
        if (!options_.dry_run && !lock) {
          account(use, true, 0, [] {}, entry.path());
          continue;
        }
        account(use, false, 0, [&] { core::remove_tree(entry.path()); }, entry.path());
        if (lock) lock->remove_and_release();
      }
    }
  }

  void containers(const fs::path& root, StoreUse& use) {
    for (const fs::directory_entry& entry : list(containers_dir(root))) {
      const std::string name = entry.path().filename().string();
      if (name.find(kRunningContainerMarker) != std::string::npos) {
        // Counted, never walked: its container may be renaming inside it,
        // which would make the measure (and so df) fail.
        account(use, true, 0, [] {});
        continue;
      }
      const std::optional<std::string> image = core::read_file(entry.path() / kContainerImageFile, 256);
      const bool keep = image && marks_.blobs.contains(*image);
      account(use, keep, 0, [&] { core::remove_tree(entry.path()); }, entry.path());
    }
  }

 private:
  static bool held_hex(const std::string& hex, const std::set<std::string>& held) {
    return held.contains("sha256:" + hex) || held.contains("sha512:" + hex);
  }

  static std::vector<fs::directory_entry> list(const fs::path& dir) {
    std::vector<fs::directory_entry> out;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec == std::errc::no_such_file_or_directory) return out;
    if (ec) throw core::errno_error(ec.value(), "cannot list", dir.string());
    for (const fs::directory_entry& entry : it) out.push_back(entry);
    return out;
  }

  // dir/<algorithm>/<hex>, as "algorithm:hex".
  template <class F>
  static void for_each_digest(const fs::path& dir, F&& f) {
    for (const fs::directory_entry& algorithm : list(dir)) {
      for (const fs::directory_entry& entry : list(algorithm.path())) {
        f(entry.path(), algorithm.path().filename().string() + ":" + entry.path().filename().string());
      }
    }
  }

  static void remove_file(const fs::path& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw core::errno_error(errno, "cannot remove", path.string());
  }

  // One item: counted, measured (a tree at `tree`, else `bytes`) when it
  // goes or when everything is measured, and removed unless a dry run.
  template <class Remove>
  void account(StoreUse& use, bool keep, std::int64_t bytes, Remove&& remove, const fs::path& tree = {}) {
    if (!tree.empty() && (!keep || options_.measure_all)) bytes = core::tree_usage(tree).bytes;
    ++use.all.count;
    use.all.bytes += bytes;
    if (keep) return;
    ++use.unreachable.count;
    use.unreachable.bytes += bytes;
    if (!options_.dry_run) remove();
  }

  const Marks& marks_;
  const core::LiveLeases& leases_;
  GcOptions options_;
};

}  // namespace

GcReport collect_garbage(const fs::path& root, GcOptions options) {
  const core::ContentStore store(root, core::StoreLease::none);
  // A dry run takes no lock: what it reports may be a moment old.
  std::optional<core::detail::FileLock> sweeping;
  if (!options.dry_run) {
    core::detail::make_directory(root / core::kLeasesDir);
    sweeping = core::detail::FileLock::acquire(root / core::kLeasesDir / core::kGcLock);
  }
  // Leases first, then references: a pull that recorded its reference and
  // ended before the leases were read had recorded it before they were.
  const core::LiveLeases leases = core::read_live_leases(root, /*remove_expired=*/!options.dry_run);
  Marker marker(store);
  for (const core::Descriptor& entry : store.refs()) marker.mark_ref(entry);

  GcReport report;
  report.live_leases = leases.live;
  report.expired_leases = leases.expired;
  Sweeper sweeper(marker.marks(), leases, options);
  sweeper.containers(root, report.containers);
  sweeper.blobs(root, report.blobs);
  sweeper.snapshots(root, report.snapshots);
  sweeper.partials(root, report.partials);
  if (!options.dry_run) {
    // The store's upkeep: the snapshots it keeps are made durable too
    // (ContentStore::settle_snapshots), whatever their age.
    std::vector<core::Digest> kept;
    for (const std::string& chain : marker.marks().snapshots) kept.push_back(core::Digest::parse(chain));
    store.settle_snapshots(kept, std::chrono::seconds(0));
  }
  return report;
}

void record_container_image(const fs::path& container_dir, const core::Digest& image) {
  core::detail::publish_file(container_dir, container_dir / kContainerImageFile, image.string(),
                             core::detail::Publish::replace);
}

}  // namespace gantry::engine
