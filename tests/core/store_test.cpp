#include "core/store.hpp"

#include <gtest/gtest.h>

#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/media_types.hpp"

namespace gantry::core {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using gantry::testing::error_of;

using gantry::testing::slurp;
using gantry::testing::spit;

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(gen());
  return out;
}

Descriptor manifest_descriptor(std::string_view content) {
  return Descriptor{.media_type = std::string(media_type::kOciManifest),
                    .digest = digest_of(content),
                    .size = static_cast<std::int64_t>(content.size())};
}

// Runs body in a fork()ed child; its return value (or 99 for an exception)
// is the child's exit status. The child never returns into gtest.
pid_t spawn(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
    }
    ::_exit(rc);
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Children block on read() until the parent closes the write end, so they
// start their work together.
class StartGate {
 public:
  StartGate() { EXPECT_EQ(::pipe(fds_), 0); }
  ~StartGate() { open_gate(); ::close(fds_[0]); }
  void wait_in_child() {
    ::close(fds_[1]);
    char c;
    (void)::read(fds_[0], &c, 1);
  }
  void open_gate() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (fs::temp_directory_path() / "gantry-store-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    tmp_ = dir;
    root_ = tmp_ / "store";
  }
  void TearDown() override { fs::remove_all(tmp_); }

  fs::path partial_path(const Digest& d) const { return root_ / "ingest" / (d.hex() + ".partial"); }

  // An entry another tool wrote into index.json: no ref name, a field gantry
  // does not model (x-other-tool: 7). Returns the manifest's bytes.
  std::string add_foreign_entry() const {
    std::string foreign = "foreign manifest";
    json index = json::parse(slurp(root_ / "index.json"));
    index["manifests"].push_back({{"mediaType", media_type::kOciManifest},
                                  {"digest", digest_of(foreign).string()},
                                  {"size", foreign.size()},
                                  {"x-other-tool", 7}});
    spit(root_ / "index.json", index.dump());
    return foreign;
  }

  fs::path tmp_;
  fs::path root_;
};

TEST_F(StoreTest, CreatesAValidLayout) {
  ContentStore store(root_);
  EXPECT_EQ(store.root(), root_);
  EXPECT_EQ(json::parse(slurp(root_ / "oci-layout")), json({{"imageLayoutVersion", "1.0.0"}}));
  json index = json::parse(slurp(root_ / "index.json"));
  EXPECT_EQ(index["schemaVersion"], 2);
  EXPECT_EQ(index["mediaType"], media_type::kOciIndex);
  EXPECT_EQ(index["manifests"], json::array());
  EXPECT_TRUE(fs::is_directory(root_ / "blobs" / "sha256"));
  EXPECT_TRUE(fs::is_directory(root_ / "ingest"));
  // No temporary is left behind.
  EXPECT_TRUE(fs::is_empty(root_ / "ingest"));
}

TEST_F(StoreTest, RejectsALayoutOfAnotherVersion) {
  fs::create_directories(root_);
  spit(root_ / "oci-layout", R"({"imageLayoutVersion":"2.0.0"})");
  auto e = error_of([&] { ContentStore store(root_); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
  EXPECT_NE(e->message().find("2.0.0"), std::string::npos);

  spit(root_ / "oci-layout", "not json");
  e = error_of([&] { ContentStore store(root_); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
}

TEST_F(StoreTest, ReopenKeepsRefs) {
  Descriptor a = manifest_descriptor("manifest a");
  Descriptor b = manifest_descriptor("manifest b");
  b.platform = Platform{.os = "linux", .architecture = "arm64", .variant = "v8"};
  b.annotations["org.example.note"] = "kept";
  {
    ContentStore store(root_);
    store.set_ref("docker.io/library/alpine:3.19", a);
    store.set_ref("example.com/b@sha256:" + b.digest.hex(), b);
  }
  ContentStore store(root_);
  auto found = store.find_ref("docker.io/library/alpine:3.19");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->digest, a.digest);
  EXPECT_EQ(found->size, a.size);
  EXPECT_EQ(found->annotations.at(std::string(kRefNameAnnotation)), "docker.io/library/alpine:3.19");

  auto found_b = store.find_ref("example.com/b@sha256:" + b.digest.hex());
  ASSERT_TRUE(found_b);
  b.annotations[std::string(kRefNameAnnotation)] = "example.com/b@sha256:" + b.digest.hex();
  EXPECT_EQ(*found_b, b);

  EXPECT_EQ(store.refs().size(), 2u);
  EXPECT_FALSE(store.find_ref("docker.io/library/alpine:3.20"));
}

TEST_F(StoreTest, SetRefReplacesTheSameNameAndKeepsForeignEntries) {
  ContentStore store(root_);
  const std::string foreign = add_foreign_entry();

  store.set_ref("app:1", manifest_descriptor("old"));
  store.set_ref("app:2", manifest_descriptor("other"));
  store.set_ref("app:1", manifest_descriptor("new"));

  auto refs = store.refs();
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[0].digest, digest_of(foreign));
  EXPECT_EQ(store.find_ref("app:1")->digest, digest_of("new"));
  EXPECT_EQ(store.find_ref("app:2")->digest, digest_of("other"));
  EXPECT_EQ(json::parse(slurp(root_ / "index.json"))["manifests"][0]["x-other-tool"], 7);
}

TEST_F(StoreTest, RemoveRefsTakesOutWhatIsSelectedAndKeepsTheRest) {
  ContentStore store(root_);
  (void)add_foreign_entry();
  const Descriptor shared = manifest_descriptor("shared");
  store.set_ref("app:1", shared);
  store.set_ref("app:2", shared);
  store.set_ref("other:1", manifest_descriptor("other"));

  std::vector<Descriptor> removed =
      store.remove_refs([&](const Descriptor& entry) { return entry.digest == shared.digest; });

  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0].annotations.at(std::string(kRefNameAnnotation)), "app:1");
  EXPECT_EQ(removed[1].annotations.at(std::string(kRefNameAnnotation)), "app:2");
  EXPECT_FALSE(store.find_ref("app:1"));
  EXPECT_FALSE(store.find_ref("app:2"));
  EXPECT_EQ(store.find_ref("other:1")->digest, digest_of("other"));
  EXPECT_EQ(json::parse(slurp(root_ / "index.json"))["manifests"][0]["x-other-tool"], 7);

  // Nothing selected: nothing written.
  struct stat before {};
  ASSERT_EQ(::stat((root_ / "index.json").c_str(), &before), 0);
  EXPECT_TRUE(store.remove_refs([](const Descriptor&) { return false; }).empty());
  struct stat after {};
  ASSERT_EQ(::stat((root_ / "index.json").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
}

TEST_F(StoreTest, SetRefOfAnIdenticalEntryWritesNothing) {
  ContentStore store(root_);
  store.set_ref("app:1", manifest_descriptor("same"));
  struct stat before {};
  ASSERT_EQ(::stat((root_ / "index.json").c_str(), &before), 0);
  store.set_ref("app:1", manifest_descriptor("same"));
  struct stat after {};
  ASSERT_EQ(::stat((root_ / "index.json").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "replaced by a rename although nothing changed";
  store.set_ref("app:1", manifest_descriptor("changed"));
  EXPECT_EQ(store.find_ref("app:1")->digest, digest_of("changed"));
}

TEST_F(StoreTest, RejectsRefNamesOutsideTheAnnotationGrammar) {
  ContentStore store(root_);
  for (std::string bad : {"", "a//b", "-a", "a:", "a---b", "a b", "/a", "a/", "a\nb"}) {
    auto e = error_of([&] { store.set_ref(bad, manifest_descriptor("x")); });
    ASSERT_TRUE(e) << bad;
    EXPECT_EQ(e->kind(), ErrorKind::bad_input) << bad;
  }
  store.set_ref("a--b/c_d.e:f@g+h", manifest_descriptor("x"));
  EXPECT_TRUE(store.find_ref("a--b/c_d.e:f@g+h"));
  EXPECT_EQ(store.refs().size(), 1u);
}

TEST_F(StoreTest, MalformedIndexIsBadInput) {
  ContentStore store(root_);
  spit(root_ / "index.json", R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:zz","size":1}]})");
  auto e = error_of([&] { (void)store.refs(); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
  EXPECT_EQ(e->context().path, (root_ / "index.json").string());

  spit(root_ / "index.json", R"({"schemaVersion":2})");
  e = error_of([&] { store.set_ref("a", manifest_descriptor("x")); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
}

TEST_F(StoreTest, PutAndReadRoundTrip) {
  ContentStore store(root_);
  std::string bytes = random_bytes(10000, 1);
  Digest d = digest_of(bytes);
  EXPECT_FALSE(store.has_blob(d));
  store.put_blob(d, bytes);
  EXPECT_TRUE(store.has_blob(d));
  EXPECT_EQ(store.blob_path(d), root_ / "blobs" / "sha256" / d.hex());
  EXPECT_EQ(slurp(store.blob_path(d)), bytes);
  EXPECT_EQ(store.read_blob(d, bytes.size()), bytes);
  store.put_blob(d, bytes);  // present: no-op
  EXPECT_EQ(store.read_blob(d, bytes.size()), bytes);
  EXPECT_TRUE(fs::is_empty(root_ / "ingest"));
}

TEST_F(StoreTest, PutBlobChecksTheDigestFirst) {
  ContentStore store(root_);
  Digest claimed = digest_of("what was promised");
  auto e = error_of([&] { store.put_blob(claimed, "what arrived"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::digest_mismatch);
  EXPECT_NE(std::string(e->what()).find(claimed.string()), std::string::npos);
  EXPECT_NE(std::string(e->what()).find(digest_of("what arrived").string()), std::string::npos);
  EXPECT_FALSE(store.has_blob(claimed));
  EXPECT_TRUE(fs::is_empty(root_ / "ingest"));
}

TEST_F(StoreTest, ReadBlobErrors) {
  ContentStore store(root_);
  Digest absent = digest_of("absent");
  auto e = error_of([&] { (void)store.read_blob(absent, 100); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::not_found);
  EXPECT_EQ(e->context().digest, absent.string());

  std::string bytes(101, 'x');
  store.put_blob(digest_of(bytes), bytes);
  e = error_of([&] { (void)store.read_blob(digest_of(bytes), 100); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
  EXPECT_EQ(e->context().digest, digest_of(bytes).string());
}

TEST_F(StoreTest, TamperedBlobIsDetected) {
  ContentStore store(root_);
  std::string bytes = "trusted content";
  Digest d = digest_of(bytes);
  store.put_blob(d, bytes);
  spit(store.blob_path(d), "tampered content");
  auto e = error_of([&] { (void)store.read_blob(d, 1000); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::digest_mismatch);
  std::string what = e->what();
  EXPECT_NE(what.find(d.string()), std::string::npos);
  EXPECT_NE(what.find(store.blob_path(d).string()), std::string::npos);
}

TEST_F(StoreTest, StreamingIngestAndCommit) {
  ContentStore store(root_);
  std::string bytes = random_bytes(3 * 1024 * 1024 + 123, 2);
  Digest d = digest_of(bytes);
  auto result = store.begin_ingest(d, static_cast<std::int64_t>(bytes.size()));
  ASSERT_EQ(result.state, IngestState::writer_ready);
  ASSERT_TRUE(result.writer);
  EXPECT_EQ(result.writer->offset(), 0);
  constexpr std::size_t kChunk = 1024 * 1024;
  for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
    std::size_t n = std::min(kChunk, bytes.size() - at);
    result.writer->write(bytes.data() + at, n);
    EXPECT_EQ(result.writer->offset(), static_cast<std::int64_t>(at + n));
  }
  EXPECT_FALSE(store.has_blob(d));  // nothing in blobs/ before commit
  result.writer->commit();
  EXPECT_TRUE(store.has_blob(d));
  EXPECT_EQ(store.read_blob(d, bytes.size()), bytes);
  EXPECT_FALSE(fs::exists(partial_path(d)));
  EXPECT_TRUE(fs::is_empty(root_ / "ingest"));  // the lock file went too

  auto again = store.begin_ingest(d, static_cast<std::int64_t>(bytes.size()));
  EXPECT_EQ(again.state, IngestState::already_present);
  EXPECT_FALSE(again.writer);
  EXPECT_THROW(result.writer->write("x", 1), std::logic_error);
}

TEST_F(StoreTest, ResumesAfterAWriterIsDestroyedHalfway) {
  ContentStore store(root_);
  std::string bytes = random_bytes(2 * 1024 * 1024 + 7, 3);
  Digest d = digest_of(bytes);
  const auto size = static_cast<std::int64_t>(bytes.size());
  const std::size_t half = bytes.size() / 2 + 11;
  {
    auto first = store.begin_ingest(d, size);
    ASSERT_EQ(first.state, IngestState::writer_ready);
    first.writer->write(bytes.data(), half);
  }
  EXPECT_EQ(fs::file_size(partial_path(d)), half);
  auto second = store.begin_ingest(d, size);
  ASSERT_EQ(second.state, IngestState::writer_ready);
  EXPECT_EQ(second.writer->offset(), static_cast<std::int64_t>(half));
  second.writer->write(bytes.data() + half, bytes.size() - half);
  second.writer->commit();
  EXPECT_EQ(store.read_blob(d, bytes.size()), bytes);
}

TEST_F(StoreTest, APartialLongerThanTheDescriptorRestartsFromZero) {
  ContentStore store(root_);
  std::string bytes = "0123456789";
  Digest d = digest_of(bytes);
  spit(partial_path(d), "this is longer than ten bytes");
  auto result = store.begin_ingest(d, 10);
  ASSERT_EQ(result.state, IngestState::writer_ready);
  EXPECT_EQ(result.writer->offset(), 0);
  result.writer->write(bytes.data(), bytes.size());
  result.writer->commit();
  EXPECT_EQ(store.read_blob(d, 10), bytes);
}

TEST_F(StoreTest, TooManyBytesIsBadInputAndWritesNothing) {
  ContentStore store(root_);
  std::string bytes = "0123456789";
  Digest d = digest_of(bytes);
  auto result = store.begin_ingest(d, 10);
  ASSERT_EQ(result.state, IngestState::writer_ready);
  result.writer->write(bytes.data(), 6);
  auto e = error_of([&] { result.writer->write("abcdefgh", 8); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
  EXPECT_NE(e->message().find("more bytes than the descriptor's size 10"), std::string::npos);
  EXPECT_EQ(e->context().digest, d.string());
  EXPECT_EQ(result.writer->offset(), 6);
  EXPECT_EQ(fs::file_size(partial_path(d)), 6u);
  // The writer is still good for the right bytes.
  result.writer->write(bytes.data() + 6, 4);
  result.writer->commit();
  EXPECT_EQ(store.read_blob(d, 10), bytes);
}

TEST_F(StoreTest, DigestMismatchLeavesNoPartialAndNoBlob) {
  ContentStore store(root_);
  Digest d = digest_of("expected!!");
  auto result = store.begin_ingest(d, 10);
  ASSERT_EQ(result.state, IngestState::writer_ready);
  result.writer->write("different!", 10);
  auto e = error_of([&] { result.writer->commit(); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::digest_mismatch);
  EXPECT_EQ(e->context().digest, d.string());
  EXPECT_NE(std::string(e->what()).find(digest_of("different!").string()), std::string::npos);
  EXPECT_FALSE(fs::exists(partial_path(d)));
  EXPECT_FALSE(store.has_blob(d));
  EXPECT_TRUE(fs::is_empty(root_ / "ingest"));
  // The lock was released with it: a new writer starts from zero.
  auto again = store.begin_ingest(d, 10);
  ASSERT_EQ(again.state, IngestState::writer_ready);
  EXPECT_EQ(again.writer->offset(), 0);
}

TEST_F(StoreTest, ShortCommitKeepsThePartialForResume) {
  ContentStore store(root_);
  std::string bytes = "0123456789";
  Digest d = digest_of(bytes);
  auto result = store.begin_ingest(d, 10);
  result.writer->write(bytes.data(), 4);
  auto e = error_of([&] { result.writer->commit(); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
  EXPECT_EQ(fs::file_size(partial_path(d)), 4u);
  result.writer->write(bytes.data() + 4, 6);
  result.writer->commit();
  EXPECT_EQ(store.read_blob(d, 10), bytes);
}

TEST_F(StoreTest, DiscardStartsOverAndKeepsTheLock) {
  ContentStore store(root_);
  std::string bytes = "0123456789";
  Digest d = digest_of(bytes);
  auto result = store.begin_ingest(d, 10);
  result.writer->write("garbage", 7);
  result.writer->discard();
  EXPECT_EQ(result.writer->offset(), 0);
  EXPECT_EQ(fs::file_size(partial_path(d)), 0u);
  EXPECT_EQ(store.begin_ingest(d, 10).state, IngestState::busy);
  result.writer->write(bytes.data(), bytes.size());
  result.writer->commit();
  EXPECT_EQ(store.read_blob(d, 10), bytes);
}

TEST_F(StoreTest, SecondWriterInTheSameProcessIsBusy) {
  ContentStore store(root_);
  ContentStore other_handle(root_);
  Digest d = digest_of("0123456789");
  auto first = store.begin_ingest(d, 10);
  ASSERT_EQ(first.state, IngestState::writer_ready);
  auto second = store.begin_ingest(d, 10);
  EXPECT_EQ(second.state, IngestState::busy);
  EXPECT_FALSE(second.writer);
  EXPECT_EQ(other_handle.begin_ingest(d, 10).state, IngestState::busy);
  // Another digest is not affected.
  EXPECT_EQ(store.begin_ingest(digest_of("x"), 1).state, IngestState::writer_ready);
  first.writer.reset();
  EXPECT_EQ(store.begin_ingest(d, 10).state, IngestState::writer_ready);
}

TEST_F(StoreTest, WriterInAnotherProcessMakesUsBusy) {
  ContentStore store(root_);
  Digest d = digest_of("0123456789");
  auto mine = store.begin_ingest(d, 10);
  ASSERT_EQ(mine.state, IngestState::writer_ready);
  pid_t child = spawn([&] {
    ContentStore theirs(root_);
    return theirs.begin_ingest(d, 10).state == IngestState::busy ? 0 : 1;
  });
  EXPECT_EQ(wait_child(child), 0);

  // And the other way round: a child holding the lock while we try.
  mine.writer.reset();
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  child = spawn([&] {
    ContentStore theirs(root_);
    auto held = theirs.begin_ingest(d, 10);
    char c = held.state == IngestState::writer_ready ? 'y' : 'n';
    (void)::write(to_parent[1], &c, 1);
    (void)::read(to_child[0], &c, 1);  // hold until the parent has looked
    return 0;
  });
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  EXPECT_EQ(c, 'y');
  EXPECT_EQ(store.begin_ingest(d, 10).state, IngestState::busy);
  (void)::write(to_child[1], &c, 1);
  EXPECT_EQ(wait_child(child), 0);
  // The child's exit released it.
  EXPECT_EQ(store.begin_ingest(d, 10).state, IngestState::writer_ready);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
}

TEST_F(StoreTest, LockIsReleasedWhenAnExceptionUnwindsTheWriter) {
  ContentStore store(root_);
  Digest d = digest_of("0123456789");
  auto e = error_of([&] {
    auto result = store.begin_ingest(d, 10);
    result.writer->write("0123456789-too-long", 19);
  });
  ASSERT_TRUE(e);
  EXPECT_EQ(store.begin_ingest(d, 10).state, IngestState::writer_ready);
}

TEST_F(StoreTest, TwoProcessesSettingRefsLoseNothing) {
  ContentStore store(root_);
  constexpr int kPerProcess = 200;
  StartGate gate;
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    children.push_back(spawn([&, p] {
      gate.wait_in_child();
      ContentStore theirs(root_);
      for (int i = 0; i < kPerProcess; ++i) {
        std::string name = "proc" + std::to_string(p) + "/image:" + std::to_string(i);
        theirs.set_ref(name, manifest_descriptor(name));
      }
      return 0;
    }));
  }
  gate.open_gate();
  for (pid_t child : children) EXPECT_EQ(wait_child(child), 0);

  std::map<std::string, Digest> by_name;
  for (const Descriptor& d : store.refs()) by_name.emplace(d.annotations.at(std::string(kRefNameAnnotation)), d.digest);
  EXPECT_EQ(by_name.size(), 2u * kPerProcess);
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < kPerProcess; ++i) {
      std::string name = "proc" + std::to_string(p) + "/image:" + std::to_string(i);
      auto found = by_name.find(name);
      ASSERT_TRUE(found != by_name.end()) << name;
      EXPECT_EQ(found->second, digest_of(name));
    }
  }
}

TEST_F(StoreTest, ProcessesOpeningANewStoreAtOnceAllSucceed) {
  for (int round = 0; round < 10; ++round) {
    fs::path root = tmp_ / ("race" + std::to_string(round)) / "store";
    StartGate gate;
    std::vector<pid_t> children;
    for (int p = 0; p < 4; ++p) {
      children.push_back(spawn([&] {
        gate.wait_in_child();
        ContentStore store(root);
        return store.refs().empty() ? 0 : 1;
      }));
    }
    gate.open_gate();
    for (pid_t child : children) EXPECT_EQ(wait_child(child), 0) << "round " << round;
    EXPECT_EQ(json::parse(slurp(root / "oci-layout"))["imageLayoutVersion"], "1.0.0");
    EXPECT_EQ(json::parse(slurp(root / "index.json"))["manifests"], json::array());
    EXPECT_TRUE(fs::is_empty(root / "ingest")) << "round " << round;
  }
}

TEST_F(StoreTest, Sha512Blobs) {
  ContentStore store(root_);
  std::string small = "a sha512 blob";
  Digest d = digest_of(small, DigestAlgorithm::sha512);
  store.put_blob(d, small);
  EXPECT_EQ(store.blob_path(d), root_ / "blobs" / "sha512" / d.hex());
  EXPECT_EQ(store.read_blob(d, 100), small);
  EXPECT_FALSE(store.has_blob(digest_of(small)));  // the sha256 of it is another blob

  std::string big = random_bytes(100000, 4);
  Digest big_digest = digest_of(big, DigestAlgorithm::sha512);
  auto result = store.begin_ingest(big_digest, static_cast<std::int64_t>(big.size()));
  ASSERT_EQ(result.state, IngestState::writer_ready);
  result.writer->write(big.data(), big.size());
  result.writer->commit();
  EXPECT_EQ(store.read_blob(big_digest, big.size()), big);

  auto e = error_of([&] { store.put_blob(digest_of("other", DigestAlgorithm::sha512), small); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::digest_mismatch);
}

// Sets (value) or unsets (nullopt) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    apply(value);
  }
  ~ScopedEnv() { apply(old_); }

 private:
  void apply(const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name_, value->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  const char* name_;
  std::optional<std::string> old_;
};

// The rules for a user who is not root, checked in a child that gave up root
// when the test runs as root.
int check_user_default_root() {
  ScopedEnv xdg("XDG_DATA_HOME", "/data/home");
  ScopedEnv home("HOME", "/home/someone");
  if (ContentStore::default_root() != "/data/home/gantry") return 1;
  ScopedEnv relative_xdg("XDG_DATA_HOME", "relative/ignored");
  if (ContentStore::default_root() != "/home/someone/.local/share/gantry") return 2;
  ScopedEnv no_xdg("XDG_DATA_HOME", std::nullopt);
  if (ContentStore::default_root() != "/home/someone/.local/share/gantry") return 3;
  return 0;
}

TEST(StoreDefaultRoot, FollowsTheEnvironmentRules) {
  {
    ScopedEnv store("GANTRY_STORE", "/somewhere/store");
    ScopedEnv xdg("XDG_DATA_HOME", "/data/home");
    EXPECT_EQ(ContentStore::default_root(), "/somewhere/store");
  }
  ScopedEnv no_store("GANTRY_STORE", std::nullopt);
  if (::geteuid() == 0) {
    ScopedEnv xdg("XDG_DATA_HOME", "/data/home");
    EXPECT_EQ(ContentStore::default_root(), "/var/lib/gantry");
    pid_t child = spawn([] { return ::seteuid(65534) == 0 ? check_user_default_root() : 98; });
    EXPECT_EQ(wait_child(child), 0);
  } else {
    EXPECT_EQ(check_user_default_root(), 0);
  }
}

// Other tools read what gantry writes: skopeo and umoci, when installed.
struct CommandResult {
  int status;
  std::string output;
};

CommandResult run(const std::string& command) {
  CommandResult result{-1, {}};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A one-layer image: an empty tar, its config and manifest, under `name`.
Digest put_image(ContentStore& store, const std::string& name) {
  std::string layer(1024, '\0');  // two zero blocks: an empty tar archive
  Digest layer_digest = digest_of(layer);
  store.put_blob(layer_digest, layer);
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Cmd", {"/bin/sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {layer_digest.string()}}}}};
  std::string config_text = config.dump();
  store.put_blob(digest_of(config_text), config_text);
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", media_type::kOciManifest},
      {"config",
       {{"mediaType", media_type::kOciConfig},
        {"digest", digest_of(config_text).string()},
        {"size", config_text.size()}}},
      {"layers",
       {{{"mediaType", media_type::kOciLayer}, {"digest", layer_digest.string()}, {"size", layer.size()}}}}};
  std::string manifest_text = manifest.dump();
  store.put_blob(digest_of(manifest_text), manifest_text);
  store.set_ref(name, manifest_descriptor(manifest_text));
  return digest_of(manifest_text);
}

TEST_F(StoreTest, SkopeoReadsTheStore) {
  ContentStore store(root_);
  Digest manifest = put_image(store, "example.com/app:1.0");
  auto result = run("skopeo inspect 'oci:" + root_.string() + ":example.com/app:1.0'");
  ASSERT_EQ(result.status, 0) << result.output;
  json inspected = json::parse(result.output);
  EXPECT_EQ(inspected["Digest"], manifest.string());
  EXPECT_EQ(inspected["Architecture"], "amd64");
}

TEST_F(StoreTest, UmociListsTheRefs) {
  ContentStore store(root_);
  put_image(store, "app-1.0");
  put_image(store, "example.com/other:2");
  auto result = run("umoci ls --layout '" + root_.string() + "'");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("app-1.0\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("example.com/other:2\n"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace gantry::core
