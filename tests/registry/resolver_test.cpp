// registry/detail/resolver.cpp through Client::resolve and Client::pull: tags
// and digests to manifests, the platform pick from an index, every document
// checked against its digest, and a store that spares requests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "fake_registry.hpp"
#include "core/reference.hpp"
#include "core/store.hpp"
#include "registry/client.hpp"

namespace gantry::registry {
namespace {

using namespace testing;
namespace media_type = core::media_type;

// One image: a layer, its config for `architecture`, and the manifest.
struct Image {
  explicit Image(const std::string& architecture, unsigned seed,
                 std::string_view layer_type = media_type::kOciLayerGzip) {
    layer = random_bytes(3000, seed);
    config = R"({"architecture":")" + architecture +
             R"(","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[")" +
             core::digest_of(layer + "uncompressed").string() + R"("]}})";
    manifest = R"({"schemaVersion":2,"mediaType":")" + std::string(media_type::kOciManifest) + R"(","config":)" +
               descriptor_json(media_type::kOciConfig, config) + R"(,"layers":[)" +
               descriptor_json(layer_type, layer) + "]}";
  }
  [[nodiscard]] std::string digest() const { return core::digest_of(manifest).string(); }
  std::string layer, config, manifest;
};

core::ErrorKind failure_kind(const std::function<void()>& run, std::string* message = nullptr) {
  try {
    run();
  } catch (const core::Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return core::ErrorKind::io;
}

// Polls `done` until it holds or `limit` has passed; whether it holds.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(Resolver, AnIndexYieldsTheManifestOfTheAskedPlatform) {
  Image amd64("amd64", 41), arm64("arm64", 42);
  std::string index = R"({"schemaVersion":2,"mediaType":")" + std::string(media_type::kOciIndex) + R"(","manifests":[)" +
                      descriptor_json(media_type::kOciManifest, amd64.manifest,
                                      R"(,"platform":{"architecture":"amd64","os":"linux"})") +
                      "," +
                      descriptor_json(media_type::kOciManifest, arm64.manifest,
                                      R"(,"platform":{"architecture":"arm64","os":"linux","variant":"v8"})") +
                      "]}";
  FakeRegistry registry;
  registry.image("unused-a", amd64.manifest, {amd64.config, amd64.layer});
  registry.image("unused-b", arm64.manifest, {arm64.config, arm64.layer});
  registry.document("/v2/app/manifests/multi", std::string(media_type::kOciIndex), index);
  Options options = test_options();
  options.platform = core::Platform::parse("linux/arm64");
  Client client(options);

  ResolvedImage image = client.resolve(registry.ref(":multi"));

  ASSERT_TRUE(image.index_descriptor);
  EXPECT_EQ(image.index_bytes, index);
  EXPECT_EQ(image.index_descriptor->digest, core::digest_of(index));
  EXPECT_EQ(image.manifest_descriptor.digest.string(), arm64.digest());
  EXPECT_EQ(image.manifest_bytes, arm64.manifest);
  EXPECT_EQ(image.config_bytes, arm64.config);
  EXPECT_EQ(image.platform.string(), "linux/arm64/v8");
  EXPECT_EQ(image.config.platform.architecture, "arm64");
  EXPECT_EQ(registry.server().requests_to("/v2/app/manifests/" + amd64.digest()).size(), 0u);
  // Manifest requests say what gantry accepts.
  for (const HttpRequest& r : registry.server().requests_to("/v2/app/manifests/")) {
    EXPECT_NE(r.header("accept").find(media_type::kOciIndex), std::string::npos);
    EXPECT_NE(r.header("accept").find(media_type::kDockerManifest), std::string::npos);
  }
}

TEST(Resolver, AManifestMustHashToTheDigestAskedFor) {
  Image image("amd64", 43), other("amd64", 44);
  FakeRegistry registry;
  registry.document("/v2/app/manifests/" + image.digest(), std::string(media_type::kOciManifest), other.manifest,
                    image.digest());
  Client client(test_options());
  std::string message;
  EXPECT_EQ(failure_kind([&] { (void)client.resolve(registry.ref("@" + image.digest())); }, &message),
            core::ErrorKind::digest_mismatch);
  EXPECT_NE(message.find(image.digest()), std::string::npos) << message;
}

TEST(Resolver, AManifestMustMatchItsDockerContentDigest) {
  Image image("amd64", 45), other("amd64", 46);
  FakeRegistry registry;
  registry.document("/v2/app/manifests/v1", std::string(media_type::kOciManifest), image.manifest, other.digest());
  Client client(test_options());
  EXPECT_EQ(failure_kind([&] { (void)client.resolve(registry.ref(":v1")); }), core::ErrorKind::digest_mismatch);
}

TEST(Resolver, AnUnknownTagIsNotFoundAndSaysWhich) {
  FakeRegistry registry;
  Client client(test_options());
  std::string message;
  EXPECT_EQ(failure_kind([&] { (void)client.resolve(registry.ref(":v9")); }, &message), core::ErrorKind::not_found);
  EXPECT_EQ(message.rfind("manifest unknown: tag v9 not found", 0), 0u) << message;
}

TEST(Resolver, AnOversizedManifestIsRefused) {
  FakeRegistry registry;
  registry.document("/v2/app/manifests/huge", std::string(media_type::kOciManifest),
                    std::string(core::kMaxManifestSize + 1, ' '));
  Client client(test_options());
  EXPECT_EQ(failure_kind([&] { (void)client.resolve(registry.ref(":huge")); }), core::ErrorKind::bad_input);
}

TEST(Resolver, TheConfigIsVerified) {
  Image image("amd64", 47);
  FakeRegistry registry;
  registry.image("v1", image.manifest, {image.config, image.layer});
  std::string tampered = image.config;
  tampered[tampered.find("sh")] = 'S';
  registry.blob_as(core::digest_of(image.config).string(), tampered);
  Client client(test_options());
  EXPECT_EQ(failure_kind([&] { (void)client.resolve(registry.ref(":v1")); }), core::ErrorKind::digest_mismatch);
}

TEST(Resolver, APulledImageIsNotFetchedAgain) {
  Image image("amd64", 48);
  FakeRegistry registry;
  registry.image("v1", image.manifest, {image.config, image.layer});
  TempStore temp;
  core::ContentStore store(temp.root());

  {
    Client client(test_options());
    PullResult first = client.pull(registry.ref(":v1"), store);
    EXPECT_EQ(first.stats.blobs_fetched, 1u);
  }
  EXPECT_TRUE(store.has_blob(core::digest_of(image.layer)));
  EXPECT_TRUE(store.has_blob(core::digest_of(image.config)));
  EXPECT_TRUE(store.has_blob(core::digest_of(image.manifest)));
  std::optional<core::Descriptor> recorded = store.find_ref(registry.ref(":v1").string());
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->digest.string(), image.digest());

  // By tag: one HEAD tells the digest, the store has the rest.
  std::size_t before = registry.server().requests().size();
  {
    Client client(test_options());
    PullResult again = client.pull(registry.ref(":v1"), store);
    EXPECT_EQ(again.stats.blobs_fetched, 0u);
    EXPECT_EQ(again.stats.blobs_cached, 1u);
  }
  auto requests = registry.server().requests();
  std::vector<std::string> seen;
  for (std::size_t i = before; i < requests.size(); ++i) seen.push_back(requests[i].method + " " + requests[i].target);
  EXPECT_EQ(seen, (std::vector<std::string>{"GET /v2/", "HEAD /v2/app/manifests/v1"}));

  // By digest: nothing at all.
  before = registry.server().requests().size();
  {
    Client client(test_options());
    (void)client.pull(registry.ref("@" + image.digest()), store);
  }
  EXPECT_EQ(registry.server().requests().size(), before);
}

TEST(Resolver, AResolveTellsWhenItWasLetInAndHadEachDocument) {
  Image image("amd64", 49);
  FakeRegistry registry;
  registry.image("v1", image.manifest, {image.config, image.layer});
  TempStore temp;
  core::ContentStore store(temp.root());
  Client client(test_options());

  const auto before = std::chrono::steady_clock::now();
  ResolvedImage fetched = client.resolve(registry.ref(":v1"), store);
  ASSERT_TRUE(fetched.auth_at && fetched.manifest_at && fetched.config_at);
  EXPECT_LE(before, *fetched.auth_at);
  EXPECT_LE(*fetched.auth_at, *fetched.manifest_at);
  EXPECT_LE(*fetched.manifest_at, *fetched.config_at);

  // By digest, with the documents in the store: no request, so no auth.
  store.put_blob(core::digest_of(image.manifest), image.manifest);
  ResolvedImage stored = client.resolve(registry.ref("@" + image.digest()), store);
  EXPECT_FALSE(stored.auth_at);
}

TEST(Resolver, TwoTagsOfOneImagePulledAtOnceFetchItsConfigOnce) {
  Image image("amd64", 50);
  FakeRegistry registry;
  registry.image("v1", image.manifest, {image.config, image.layer});
  registry.image("v2", image.manifest, {image.config, image.layer});
  const std::string config_target = "/v2/app/blobs/" + core::digest_of(image.config).string();
  // The config answers only once a second request for it came, or after a
  // while: both pulls resolve before it arrives.
  std::mutex mutex;
  std::condition_variable asked;
  int config_gets = 0;
  registry.before_answer([&](const HttpRequest& request) {
    if (request.target != config_target) return;
    std::unique_lock lock(mutex);
    ++config_gets;
    asked.notify_all();
    asked.wait_for(lock, std::chrono::seconds(2), [&] { return config_gets >= 2; });
  });
  TempStore temp;
  core::ContentStore store(temp.root());
  Client client(test_options());

  // As the engine does: every image resolved at once, then pulled.
  std::future<ResolvedImage> v1 = client.start_resolve(registry.ref(":v1"), store);
  std::future<ResolvedImage> v2 = client.start_resolve(registry.ref(":v2"), store);
  for (std::future<ResolvedImage>* resolving : {&v1, &v2}) {
    PullResult pulled = client.pull(resolving->get(), store);
    EXPECT_EQ(pulled.image.config_bytes, image.config);
  }
  EXPECT_EQ(registry.server().requests_to(config_target).size(), 1u);
  EXPECT_TRUE(store.has_blob(core::digest_of(image.config)));
}

TEST(Resolver, AConfigAnotherProcessIsFetchingIsTakenFromTheStoreNotFetched) {
  Image image("amd64", 51);
  FakeRegistry registry;
  registry.image("v1", image.manifest, {image.config, image.layer});
  TempStore temp;
  core::ContentStore store(temp.root());
  const core::Digest config = core::digest_of(image.config);
  const std::string config_target = "/v2/app/blobs/" + config.string();
  // The config's ingest lock, as another gantry process holds it while it downloads.
  core::IngestResult theirs = store.begin_ingest(config, static_cast<std::int64_t>(image.config.size()));
  ASSERT_EQ(theirs.state, core::IngestState::writer_ready);

  std::optional<PullResult> pulled;
  std::string failure;
  std::thread puller([&] {
    try {
      Client client(test_options());
      pulled = client.pull(registry.ref(":v1"), store);
    } catch (const core::Error& e) {
      failure = e.what();
    }
  });
  // Once the manifest is in, the config comes next: give the client the
  // time to ask for it (it must not) before the other process finishes.
  auto manifest_fetched = [&] {
    for (const HttpRequest& r : registry.server().requests_to("/v2/app/manifests/")) {
      if (r.method == "GET") return true;
    }
    return false;
  };
  EXPECT_TRUE(eventually(manifest_fetched, std::chrono::seconds(10)));
  (void)eventually([&] { return !registry.server().requests_to(config_target).empty(); }, std::chrono::seconds(1));
  theirs.writer->write(image.config.data(), image.config.size());
  theirs.writer->commit();
  puller.join();

  ASSERT_TRUE(pulled) << failure;
  EXPECT_EQ(pulled->image.config_bytes, image.config);
  EXPECT_EQ(registry.server().requests_to(config_target).size(), 0u);
}

TEST(Resolver, MalformedDocumentsAreNamedWithRegistryRepositoryAndDigest) {
  FakeRegistry registry;
  std::string bad_config = R"({"architecture": "amd64", )";  // cut short
  std::string layer = random_bytes(100, 52);
  std::string manifest = R"({"schemaVersion":2,"mediaType":")" + std::string(media_type::kOciManifest) +
                         R"(","config":)" + descriptor_json(media_type::kOciConfig, bad_config) + R"(,"layers":[)" +
                         descriptor_json(media_type::kOciLayerGzip, layer) + "]}";
  registry.document("/v2/app/manifests/bad-config", std::string(media_type::kOciManifest), manifest);
  registry.blob(bad_config);
  registry.blob(layer);
  std::string bad_manifest = R"({"schemaVersion":2,"config":)";
  registry.document("/v2/app/manifests/bad-manifest", std::string(media_type::kOciManifest), bad_manifest);
  std::string bad_index = R"({"schemaVersion":2,"manifests":[)";
  registry.document("/v2/app/manifests/bad-index", std::string(media_type::kOciIndex), bad_index);
  const std::vector<std::pair<std::string, std::string>> cases = {{":bad-config", bad_config},
                                                                  {":bad-manifest", bad_manifest},
                                                                  {":bad-index", bad_index}};
  Client client(test_options());
  for (const auto& [tail, document] : cases) {
    try {
      (void)client.resolve(registry.ref(tail));
      ADD_FAILURE() << tail << ": no error";
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::bad_input) << e.what();
      EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
      EXPECT_EQ(e.context().registry, registry.host()) << e.what();
      EXPECT_EQ(e.context().repository, "app") << e.what();
      EXPECT_EQ(e.context().digest, core::digest_of(document).string()) << e.what();
    }
  }
}

TEST(Resolver, ALayerTypeGantryCannotUnpackFailsThePullBeforeAnyDownload) {
  Image image("amd64", 49, "application/vnd.example.not-a-layer");
  FakeRegistry registry;
  registry.image("v1", image.manifest, {image.config, image.layer});
  TempStore temp;
  core::ContentStore store(temp.root());
  Client client(test_options());
  std::string message;
  EXPECT_EQ(failure_kind([&] { (void)client.pull(registry.ref(":v1"), store); }, &message),
            core::ErrorKind::unsupported);
  EXPECT_NE(message.find("application/vnd.example.not-a-layer"), std::string::npos) << message;
  EXPECT_FALSE(store.has_blob(core::digest_of(image.layer)));
  EXPECT_FALSE(store.find_ref(registry.ref(":v1").string()));
}

}  // namespace
}  // namespace gantry::registry
