// engine/engine.cpp with the real registry client, store and layer
// pipelines, against a fake registry on loopback: many images at once
// share one download per blob and one unpack per snapshot, one image
// failing leaves the others complete, a stop ends everything without
// leaving anything half made, and the download slots and the threads
// follow the budget, not the number of images or layers.
#include "engine/engine.hpp"

#include <dirent.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "core/platform.hpp"
#include "core/store.hpp"
#include "registry/client.hpp"
#include "tests/registry/fake_registry.hpp"
#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"
#include "tests/unpack/tar_fixture.hpp"

namespace gantry::engine {
namespace {

namespace fs = std::filesystem;
namespace media_type = core::media_type;
using registry::testing::descriptor_json;
using registry::testing::Exchange;
using registry::testing::FakeRegistry;
using registry::testing::HttpRequest;
using registry::testing::http_response;
using registry::testing::random_bytes;
using registry::testing::TempStore;
using unpack::testing::FileSpec;

// Generous for a loaded 2-core machine under a sanitizer: a hang is
// reported and ends the test binary rather than waiting for ctest's timeout.
constexpr auto kWatchdog = std::chrono::seconds(120);

// One layer as the registry serves it, and the diff ID of its tar.
struct Layer {
  std::string blob;
  core::Digest diff_id;
  std::string media_type;
};

Layer gzip_layer(const std::vector<FileSpec>& files) {
  std::string tar = unpack::testing::make_tar(files);
  return Layer{unpack::testing::gzip(tar), core::digest_of(tar), std::string(media_type::kOciLayerGzip)};
}

Layer tar_layer(const std::vector<FileSpec>& files) {
  std::string tar = unpack::testing::make_tar(files);
  return Layer{tar, core::digest_of(tar), std::string(media_type::kOciLayer)};
}

// An image of real layers for this host's platform: its config lists their
// diff IDs, so the chain IDs and the pipelines' checks are the real ones.
struct TestImage {
  explicit TestImage(std::vector<Layer> image_layers) : layers(std::move(image_layers)) {
    std::string diff_ids, descriptors;
    for (const Layer& layer : layers) {
      diff_ids += (diff_ids.empty() ? "\"" : ",\"") + layer.diff_id.string() + "\"";
      descriptors += (descriptors.empty() ? "" : ",") + descriptor_json(layer.media_type, layer.blob);
    }
    config = R"({"architecture":")" + core::Platform::host().architecture +
             R"(","os":"linux","rootfs":{"type":"layers","diff_ids":[)" + diff_ids + "]}}";
    manifest = R"({"schemaVersion":2,"mediaType":")" + std::string(media_type::kOciManifest) + R"(","config":)" +
               descriptor_json(media_type::kOciConfig, config) + R"(,"layers":[)" + descriptors + "]}";
  }

  void serve(FakeRegistry& registry, const std::string& tag) const {
    std::vector<std::string> blobs{config};
    for (const Layer& layer : layers) blobs.push_back(layer.blob);
    registry.image(tag, manifest, blobs);
  }
  [[nodiscard]] std::vector<core::Digest> chain_ids() const {
    std::vector<core::Digest> diff_ids;
    for (const Layer& layer : layers) diff_ids.push_back(layer.diff_id);
    return core::chain_ids(diff_ids);
  }
  [[nodiscard]] core::Digest digest() const { return core::digest_of(manifest); }

  std::vector<Layer> layers;
  std::string config, manifest;
};

std::string blob_target(const std::string& bytes) { return "/v2/app/blobs/" + core::digest_of(bytes).string(); }

std::size_t gets_of(const FakeRegistry& registry, const std::string& bytes) {
  std::size_t gets = 0;
  for (const HttpRequest& r : registry.server().requests_to(blob_target(bytes))) gets += r.method == "GET";
  return gets;
}

registry::Options client_options(int jobs, std::stop_token stop = {}) {
  registry::Options options = registry::testing::test_options();
  options.jobs = jobs;
  options.stop = std::move(stop);
  return options;
}

EngineOptions engine_options(std::size_t images_at_once, std::size_t layers_in_flight) {
  EngineOptions options;
  options.images_at_once = images_at_once;
  options.unpack.layers_in_flight = layers_in_flight;
  return options;
}

// Waits for `f` under the watchdog; a hang ends the binary with a message.
template <class T>
void await(const std::future<T>& f, const std::string& what) {
  if (f.wait_for(kWatchdog) == std::future_status::ready) return;
  std::fprintf(stderr, "FAILED: %s did not end within %lld s (a hang)\n", what.c_str(),
               static_cast<long long>(kWatchdog.count()));
  std::abort();
}

// Destroys the engine (which waits for every request) under the watchdog.
void destroy_within_watchdog(std::unique_ptr<Engine>& engine) {
  std::future<void> destroyed = std::async(std::launch::async, [&engine] { engine.reset(); });
  await(destroyed, "the engine's destructor");
}

// The entries of a directory, by name; none when it does not exist.
std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.insert(entry.path().filename().string());
  return names;
}

std::set<std::string> snapshots_in(const TempStore& temp) { return entries(temp.root() / "snapshots" / "sha256"); }

// Snapshot staging directories (ingest/<hex>.snapshot) in the store.
std::vector<std::string> snapshot_staging_in(const TempStore& temp) {
  std::vector<std::string> staging;
  for (const std::string& name : entries(temp.root() / "ingest")) {
    if (name.ends_with(".snapshot")) staging.push_back(name);
  }
  return staging;
}

std::string read_file(const fs::path& path) {
  EXPECT_TRUE(fs::is_regular_file(path)) << path;
  return gantry::testing::slurp(path);
}

TEST(Engine, ImagesSharingABaseFetchAndUnpackItOnce) {
  // A base big enough that the images' downloads of it overlap.
  const std::string base_content = random_bytes(1 << 20, 7);
  const Layer base = gzip_layer({{.path = "etc/", .type = AE_IFDIR}, {.path = "etc/base.bin", .content = base_content}});
  constexpr int kImages = 6;
  FakeRegistry registry;
  std::vector<TestImage> images;
  for (int i = 0; i < kImages; ++i) {
    const std::string name = "app/top" + std::to_string(i) + ".txt";
    images.emplace_back(std::vector<Layer>{
        base, gzip_layer({{.path = "app/", .type = AE_IFDIR}, {.path = name, .content = "top " + std::to_string(i)}})});
    images.back().serve(registry, "img" + std::to_string(i));
  }
  TempStore temp;
  core::ContentStore store(temp.root());
  registry::Client client(client_options(4));
  auto engine = std::make_unique<Engine>(client, store, engine_options(3, 2));

  std::vector<std::future<UnpackReport>> futures;
  for (int i = 0; i < kImages; ++i) {
    futures.push_back(engine->submit({.reference = registry.ref(":img" + std::to_string(i)), .goal = Goal::snapshots}));
  }
  std::vector<UnpackReport> reports;
  for (auto& future : futures) {
    await(future, "an image's unpack");
    reports.push_back(future.get());
  }
  destroy_within_watchdog(engine);

  const fs::path base_snapshot = store.snapshot_path(images[0].chain_ids()[0]);
  std::size_t layers_unpacked = 0;
  for (int i = 0; i < kImages; ++i) {
    const UnpackReport& report = reports[i];
    const std::vector<core::Digest> chains = images[i].chain_ids();
    ASSERT_EQ(report.snapshots.size(), 2u);
    EXPECT_EQ(report.snapshots[0], base_snapshot);
    EXPECT_EQ(report.snapshots[1], store.snapshot_path(chains[1]));
    layers_unpacked += report.layers.size();
    // The top snapshot holds the top layer alone (overlay stacks the base under it).
    const fs::path top = report.snapshots[1];
    EXPECT_EQ(read_file(top / "app" / ("top" + std::to_string(i) + ".txt")), "top " + std::to_string(i));
    EXPECT_FALSE(fs::exists(top / "etc")) << top;
    std::optional<core::Descriptor> recorded = store.find_ref(registry.ref(":img" + std::to_string(i)).string());
    ASSERT_TRUE(recorded) << i;
    EXPECT_EQ(recorded->digest, images[i].digest());
    EXPECT_EQ(gets_of(registry, images[i].layers[1].blob), 1u) << "top layer of image " << i;
    EXPECT_EQ(gets_of(registry, images[i].config), 1u) << "config of image " << i;
  }
  EXPECT_EQ(read_file(base_snapshot / "etc" / "base.bin"), base_content);
  EXPECT_EQ(gets_of(registry, base.blob), 1u);
  // One base snapshot and six tops; the base was unpacked by one request only.
  EXPECT_EQ(snapshots_in(temp).size(), 1u + kImages);
  EXPECT_EQ(layers_unpacked, 1u + kImages);
  EXPECT_TRUE(snapshot_staging_in(temp).empty());
}

TEST(Engine, TwoRootfsAtOnceAreEachTheirImageFlattened) {
  FakeRegistry registry;
  const TestImage a({gzip_layer({{.path = "etc/", .type = AE_IFDIR},
                                 {.path = "etc/kept", .content = "a base"},
                                 {.path = "etc/replaced", .content = "a old"},
                                 {.path = "etc/gone", .content = "a gone"}}),
                     gzip_layer({{.path = "etc/", .type = AE_IFDIR},
                                 {.path = "etc/replaced", .content = "a new"},
                                 {.path = "etc/.wh.gone"},
                                 {.path = "a-only", .content = "a"}})});
  const TestImage b({gzip_layer({{.path = "etc/", .type = AE_IFDIR}, {.path = "etc/kept", .content = "b base"}}),
                     gzip_layer({{.path = "bin/", .type = AE_IFDIR},
                                 {.path = "bin/sh", .content = random_bytes(300000, 8)},
                                 {.path = "bin/ash", .link = "bin/sh", .hardlink = true}})});
  a.serve(registry, "a");
  b.serve(registry, "b");
  TempStore temp, out;
  core::ContentStore store(temp.root());
  registry::Client client(client_options(4));
  auto engine = std::make_unique<Engine>(client, store, engine_options(2, 2));

  auto fa = engine->submit({.reference = registry.ref(":a"), .goal = Goal::rootfs, .rootfs = out.root() / "a"});
  auto fb = engine->submit({.reference = registry.ref(":b"), .goal = Goal::rootfs, .rootfs = out.root() / "b"});
  await(fa, "rootfs a");
  await(fb, "rootfs b");
  EXPECT_EQ(fa.get().layers.size(), 2u);
  EXPECT_EQ(fb.get().layers.size(), 2u);
  destroy_within_watchdog(engine);

  const fs::path ra = out.root() / "a", rb = out.root() / "b";
  EXPECT_EQ(entries(out.root()), (std::set<std::string>{"a", "b"}));  // no staging left beside them
  EXPECT_EQ(entries(ra), (std::set<std::string>{"etc", "a-only"}));
  EXPECT_EQ(entries(ra / "etc"), (std::set<std::string>{"kept", "replaced"}));
  EXPECT_EQ(read_file(ra / "etc" / "kept"), "a base");
  EXPECT_EQ(read_file(ra / "etc" / "replaced"), "a new");
  EXPECT_EQ(read_file(ra / "a-only"), "a");
  EXPECT_EQ(entries(rb), (std::set<std::string>{"etc", "bin"}));
  EXPECT_EQ(read_file(rb / "etc" / "kept"), "b base");
  EXPECT_EQ(read_file(rb / "bin" / "sh"), random_bytes(300000, 8));
  EXPECT_TRUE(fs::equivalent(rb / "bin" / "sh", rb / "bin" / "ash"));
  EXPECT_TRUE(store.find_ref(registry.ref(":a").string()));
  EXPECT_TRUE(store.find_ref(registry.ref(":b").string()));
}

TEST(Engine, FailingImagesLeaveTheOthersCompleteAndNothingOfTheirOwn) {
  FakeRegistry registry;
  const Layer base = gzip_layer({{.path = "base", .content = random_bytes(200000, 9)}});
  const TestImage good1({base, gzip_layer({{.path = "one", .content = "1"}})});
  const TestImage good2({gzip_layer({{.path = "two", .content = random_bytes(100000, 10)}})});
  // Its top layer uncompressed, so that one flipped byte keeps it a valid
  // tar of the same size: what fails is the digest, nothing else.
  const TestImage corrupt({base, tar_layer({{.path = "three", .content = "three's content"}})});
  good1.serve(registry, "good1");
  good2.serve(registry, "good2");
  corrupt.serve(registry, "corrupt");
  std::string flipped = corrupt.layers[1].blob;
  flipped[flipped.find("three's content")] ^= 0x20;
  registry.blob_as(core::digest_of(corrupt.layers[1].blob).string(), flipped);
  TempStore temp;
  core::ContentStore store(temp.root());
  registry::Client client(client_options(4));
  auto engine = std::make_unique<Engine>(client, store, engine_options(4, 2));

  auto missing = engine->submit({.reference = registry.ref(":missing"), .goal = Goal::snapshots});
  auto bad = engine->submit({.reference = registry.ref(":corrupt"), .goal = Goal::snapshots});
  auto ok1 = engine->submit({.reference = registry.ref(":good1"), .goal = Goal::snapshots});
  auto ok2 = engine->submit({.reference = registry.ref(":good2"), .goal = Goal::snapshots});
  for (auto* f : {&missing, &bad, &ok1, &ok2}) await(*f, "an image's unpack");
  destroy_within_watchdog(engine);

  std::optional<core::Error> not_found = gantry::testing::error_of([&] { (void)missing.get(); });
  ASSERT_TRUE(not_found);
  EXPECT_EQ(not_found->kind(), core::ErrorKind::not_found) << not_found->what();
  std::optional<core::Error> mismatch = gantry::testing::error_of([&] { (void)bad.get(); });
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->kind(), core::ErrorKind::digest_mismatch) << mismatch->what();
  EXPECT_EQ(mismatch->context().digest, core::digest_of(corrupt.layers[1].blob).string()) << mismatch->what();

  for (auto [future, image, tag] : {std::tuple{&ok1, &good1, ":good1"}, std::tuple{&ok2, &good2, ":good2"}}) {
    UnpackReport report = future->get();
    EXPECT_EQ(report.image.manifest_descriptor.digest, image->digest());
    for (const core::Digest& chain : image->chain_ids()) EXPECT_TRUE(store.has_snapshot(chain)) << tag;
    EXPECT_TRUE(store.find_ref(registry.ref(tag).string())) << tag;
  }
  EXPECT_EQ(read_file(store.snapshot_path(good1.chain_ids()[1]) / "one"), "1");
  // The corrupt layer left no snapshot, no blob and no staging; the base
  // below it is complete and stays. No ref names a failed image.
  EXPECT_FALSE(store.has_snapshot(corrupt.chain_ids()[1]));
  EXPECT_FALSE(store.has_blob(core::digest_of(corrupt.layers[1].blob)));
  EXPECT_TRUE(snapshot_staging_in(temp).empty());
  EXPECT_EQ(snapshots_in(temp).size(), 3u);  // base, good1's top, good2's one
  EXPECT_FALSE(store.find_ref(registry.ref(":missing").string()));
  EXPECT_FALSE(store.find_ref(registry.ref(":corrupt").string()));
  EXPECT_EQ(store.refs().size(), 2u);
}

// Sends layers (blobs of more than `min_size` bytes) a few KiB at a time
// with pauses, so downloads are in flight for as long as the test needs,
// and a client that checks for a stop between chunks sees it soon. Counts
// the layer bytes sent, for the test to know the downloads are under way.
class DrippingLayers {
 public:
  explicit DrippingLayers(std::size_t min_size) : min_size_(min_size) {}

  FakeRegistry::BlobServer server() {
    return [this](const HttpRequest& request, Exchange& exchange, const std::string& bytes) {
      if (bytes.size() < min_size_) {
        std::string digest = request.target.substr(request.target.rfind('/') + 1);
        return registry::testing::serve_blob(request, exchange, {{digest, bytes}});
      }
      return drip(exchange, bytes);
    };
  }
  // Waits until `downloads` layers have each sent at least `bytes`.
  bool wait_for_downloads(std::size_t downloads, std::size_t bytes) {
    std::unique_lock lock(mutex_);
    return progressed_.wait_for(lock, kWatchdog, [&] {
      return std::count_if(sent_.begin(), sent_.end(), [&](std::size_t n) { return n >= bytes; }) >=
             static_cast<std::ptrdiff_t>(downloads);
    });
  }

 private:
  bool drip(Exchange& exchange, const std::string& bytes) {
    constexpr std::size_t kPiece = 4096;
    std::size_t slot;
    {
      std::lock_guard lock(mutex_);
      slot = sent_.size();
      sent_.push_back(0);
    }
    if (!exchange.send(http_response(200, {{"Content-Length", std::to_string(bytes.size())}}, "", false))) return false;
    for (std::size_t at = 0; at < bytes.size(); at += kPiece) {
      if (!exchange.send(std::string_view(bytes).substr(at, kPiece))) return false;
      {
        std::lock_guard lock(mutex_);
        sent_[slot] = at + kPiece;
      }
      progressed_.notify_all();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  std::size_t min_size_;
  std::mutex mutex_;
  std::condition_variable progressed_;
  std::vector<std::size_t> sent_;
};

// How a request ended: its error, when it failed.
struct Ending {
  bool failed = false;
  std::optional<core::Error> error;  // when what failed it was a core::Error
  std::string what;
};

Ending ending_of(std::future<UnpackReport>& future) {
  try {
    (void)future.get();
    return {};
  } catch (const core::Error& e) {
    return Ending{.failed = true, .error = e, .what = e.what()};
  } catch (const std::exception& e) {
    return Ending{.failed = true, .error = std::nullopt, .what = std::string("not a core::Error: ") + e.what()};
  }
}

// Three images of two layers sent slowly, two at once (in both goals that
// unpack, the third waiting its turn), and a stop requested in the engine's
// and the client's options while layers are in flight.
class EngineStop : public ::testing::Test {
 protected:
  // 1 MiB layers at 400 KiB/s: seconds each, unless stopped.
  static constexpr std::size_t kLayerSize = 1 << 20;

  EngineStop() {
    registry_.serve_blobs_with(dripping_.server());
    for (unsigned i = 0; i < 3; ++i) {
      images_.emplace_back(
          std::vector<Layer>{gzip_layer({{.path = "lower", .content = random_bytes(kLayerSize, 20 + i)}}),
                             gzip_layer({{.path = "upper", .content = random_bytes(kLayerSize, 30 + i)}})});
      images_.back().serve(registry_, "img" + std::to_string(i));
    }
  }

  // Every request's ending, the engine destroyed.
  std::vector<Ending> run_and_stop() {
    std::stop_source stop;
    registry::Client client(client_options(4, stop.get_token()));
    EngineOptions options = engine_options(2, 2);
    options.unpack.stop = stop.get_token();
    auto engine = std::make_unique<Engine>(client, store_, options);
    std::vector<std::future<UnpackReport>> futures;
    futures.push_back(engine->submit({.reference = registry_.ref(":img0"), .goal = Goal::snapshots}));
    futures.push_back(
        engine->submit({.reference = registry_.ref(":img1"), .goal = Goal::rootfs, .rootfs = out_.root() / "rootfs"}));
    futures.push_back(engine->submit({.reference = registry_.ref(":img2"), .goal = Goal::snapshots}));
    // Layers in flight: bytes have reached their pipelines (64 KiB of each).
    EXPECT_TRUE(dripping_.wait_for_downloads(2, 64 << 10));
    stop.request_stop();

    std::vector<Ending> endings;
    for (std::size_t i = 0; i < futures.size(); ++i) {
      await(futures[i], "image " + std::to_string(i) + " after the stop");
      endings.push_back(ending_of(futures[i]));
    }
    destroy_within_watchdog(engine);
    return endings;
  }

  DrippingLayers dripping_{kLayerSize / 2};
  FakeRegistry registry_;
  std::vector<TestImage> images_;
  TempStore temp_, out_;
  core::ContentStore store_{temp_.root()};
};

TEST_F(EngineStop, EveryRequestFailsAndNothingHalfMadeStays) {
  std::vector<Ending> endings = run_and_stop();

  for (std::size_t i = 0; i < endings.size(); ++i) EXPECT_TRUE(endings[i].failed) << "image " << i << " completed";
  EXPECT_TRUE(snapshots_in(temp_).empty());
  EXPECT_TRUE(snapshot_staging_in(temp_).empty());
  EXPECT_TRUE(store_.refs().empty());
  EXPECT_TRUE(entries(out_.root()).empty()) << "a rootfs or its staging directory was left";
  for (const TestImage& image : images_) {
    for (const Layer& layer : image.layers) EXPECT_FALSE(store_.has_blob(core::digest_of(layer.blob)));
  }
}

// A request that meets the stop in the client fails with the client's
// Error(io, "interrupted") (its Cancelled, turned into a core::Error at the
// Client's boundary): here the image still queued at the stop gets it from
// resolve's config fetch. Those in flight get the same kind and word from
// engine/image_unpack.cpp's stop callback, which fails their inputs, or
// from the client when the fetcher sees the token first.
TEST_F(EngineStop, EveryRequestFailsWithAnInterruptedError) {
  std::vector<Ending> endings = run_and_stop();

  for (std::size_t i = 0; i < endings.size(); ++i) {
    ASSERT_TRUE(endings[i].error) << "image " << i << ": " << endings[i].what;
    EXPECT_EQ(endings[i].error->kind(), core::ErrorKind::io) << "image " << i << ": " << endings[i].what;
    EXPECT_NE(endings[i].what.find("interrupted"), std::string::npos) << "image " << i << ": " << endings[i].what;
  }
}

TEST(Engine, BlobDownloadsAtOnceStayWithinTheClientsJobs) {
  // Every layer download is held at the registry until `jobs` of them are
  // in flight at once, and a moment longer: a download beyond the jobs
  // would arrive meanwhile. (Layers in flight over all images are the
  // LayerBudget's, proved in layer_window_test: a download does not tell
  // whether its layer is admitted, so the registry cannot see them.)
  constexpr int kJobs = 3;
  FakeRegistry registry;
  std::vector<TestImage> images;
  std::set<std::string> layer_targets;
  for (unsigned i = 0; i < 2; ++i) {
    std::vector<Layer> layers;
    for (unsigned j = 0; j < 3; ++j) {
      layers.push_back(gzip_layer({{.path = "f" + std::to_string(j), .content = random_bytes(50000, 40 + 3 * i + j)}}));
      layer_targets.insert(blob_target(layers.back().blob));
    }
    images.emplace_back(std::move(layers));
    images.back().serve(registry, "img" + std::to_string(i));
  }
  std::mutex mutex;
  std::condition_variable changed;
  int held = 0, most_held = 0;
  bool released = false;
  registry.before_answer([&](const HttpRequest& request) {
    if (request.method != "GET" || !layer_targets.contains(request.target)) return;
    std::unique_lock lock(mutex);
    most_held = std::max(most_held, ++held);
    changed.notify_all();
    if (!released && changed.wait_for(lock, kWatchdog, [&] { return released || held >= kJobs; }) && !released) {
      // A moment more for a download beyond the jobs to show up.
      changed.wait_for(lock, std::chrono::milliseconds(300), [&] { return released; });
      released = true;
      changed.notify_all();
    }
    --held;
  });
  TempStore temp;
  core::ContentStore store(temp.root());
  registry::Client client(client_options(kJobs));
  auto engine = std::make_unique<Engine>(client, store, engine_options(2, 1));

  auto f0 = engine->submit({.reference = registry.ref(":img0"), .goal = Goal::snapshots});
  auto f1 = engine->submit({.reference = registry.ref(":img1"), .goal = Goal::snapshots});
  await(f0, "image 0");
  await(f1, "image 1");
  EXPECT_EQ(f0.get().layers.size(), 3u);
  EXPECT_EQ(f1.get().layers.size(), 3u);
  destroy_within_watchdog(engine);
  EXPECT_EQ(most_held, kJobs);
}

// Threads of this process now, leaving out the fake registry's (named
// kRegistryThread). One getdents of /proc/self/task lists the threads of
// one moment, so the count is never above the true one.
constexpr const char* kRegistryThread = "fake-registry";

std::size_t threads_but_the_registrys() {
  std::size_t count = 0;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + entry->d_name + "/comm");
    std::string name;
    if (!std::getline(comm, name)) continue;  // the thread ended meanwhile
    count += name != kRegistryThread;
  }
  ::closedir(dir);
  return count;
}

// A FakeRegistry made on a thread named kRegistryThread: its acceptor and
// connection threads inherit the name from birth.
std::unique_ptr<FakeRegistry> registry_with_named_threads() {
  std::unique_ptr<FakeRegistry> registry;
  std::thread([&registry] {
    ::pthread_setname_np(::pthread_self(), kRegistryThread);
    registry = std::make_unique<FakeRegistry>();
  }).join();
  return registry;
}

// Samples the thread count until destroyed; the highest seen.
class ThreadSampler {
 public:
  ThreadSampler() : thread_([this](std::stop_token stop) { sample(stop); }) {
    while (peak_ == 0) std::this_thread::yield();
  }
  [[nodiscard]] std::size_t peak() const { return peak_; }

 private:
  void sample(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      std::size_t now = threads_but_the_registrys();
      std::size_t seen = peak_;
      while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::atomic<std::size_t> peak_{0};
  std::jthread thread_;
};

TEST(Engine, ThreadsFollowTheBudgetNotTheImagesOrLayers) {
  constexpr std::size_t kImages = 40, kLayersEach = 3, kImagesAtOnce = 4, kLayersInFlight = 3;
  std::unique_ptr<FakeRegistry> registry = registry_with_named_threads();
  std::vector<TestImage> images;
  for (std::size_t i = 0; i < kImages; ++i) {
    std::vector<Layer> layers;
    for (std::size_t j = 0; j < kLayersEach; ++j) {
      layers.push_back(gzip_layer({{.path = "f" + std::to_string(j), .content = "image " + std::to_string(i) +
                                                                                     " layer " + std::to_string(j)}}));
    }
    images.emplace_back(std::move(layers));
    images.back().serve(*registry, "img" + std::to_string(i));
  }
  TempStore temp;
  core::ContentStore store(temp.root());
  registry::Client client(client_options(4));
  // One resolve first: the client's lazily started threads (Asio's host
  // name resolver) are then in the baseline, as is the sampler.
  (void)client.resolve(registry->ref(":img0"));
  ThreadSampler sampler;
  const std::size_t baseline = threads_but_the_registrys();

  // What the design lets run at once above the baseline: a worker per
  // image at once, a layer window's thread per image in flight, and four
  // threads per layer in flight over all images (decoder, hasher, tar
  // reader and the layer's feed).
  const std::size_t windows = kImagesAtOnce, layer_threads = 4 * kLayersInFlight;
  // And what a sample may see of threads just joined: the kernel wakes
  // pthread_join (CLONE_CHILD_CLEARTID) before it drops the thread from
  // /proc, so a place may briefly list the threads of its next layer, or
  // image, beside those of the last one.
  const std::size_t just_joined = windows + layer_threads;
  const std::size_t bound = baseline + kImagesAtOnce + windows + layer_threads + just_joined;

  auto engine = std::make_unique<Engine>(client, store, engine_options(kImagesAtOnce, kLayersInFlight));
  std::vector<std::future<UnpackReport>> futures;
  for (std::size_t i = 0; i < kImages; ++i) {
    futures.push_back(engine->submit({.reference = registry->ref(":img" + std::to_string(i)), .goal = Goal::snapshots}));
  }
  std::size_t layers_unpacked = 0;
  for (auto& future : futures) {
    await(future, "an image's unpack");
    layers_unpacked += future.get().layers.size();
  }
  destroy_within_watchdog(engine);

  EXPECT_EQ(layers_unpacked, kImages * kLayersEach);
  EXPECT_LE(sampler.peak(), bound) << "baseline " << baseline;
  // The count rose at all: the sampler saw the engine's threads.
  EXPECT_GT(sampler.peak(), baseline + kImagesAtOnce);
}

}  // namespace
}  // namespace gantry::engine
