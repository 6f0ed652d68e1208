// ContentStore's snapshots: staging under a per-chain-ID lock, complete only
// once committed (renamed into snapshots/), nothing left by a builder that
// gave up or died, one builder at a time across threads and processes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "core/digest.hpp"
#include "core/store.hpp"
#include "tests/support/files.hpp"

namespace gantry::core {
namespace {

namespace fs = std::filesystem;
using gantry::testing::slurp;
using gantry::testing::spit;
using namespace std::chrono_literals;

class SnapshotStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (fs::temp_directory_path() / "gantry-snapshot-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    tmp_ = dir;
    store_.emplace(tmp_ / "store");
  }
  void TearDown() override {
    store_.reset();
    fs::permissions(tmp_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(tmp_);
  }

  [[nodiscard]] std::vector<std::string> ingest_names() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(tmp_ / "store" / "ingest")) {
      names.push_back(e.path().filename().string());
    }
    return names;
  }

  fs::path tmp_;
  std::optional<ContentStore> store_;
  const Digest chain_ = digest_of("a chain ID");
};

TEST_F(SnapshotStoreTest, ACommittedSnapshotIsInPlaceAndPresent) {
  EXPECT_EQ(store_->snapshot_path(chain_), tmp_ / "store" / "snapshots" / "sha256" / chain_.hex());
  EXPECT_FALSE(store_->has_snapshot(chain_));
  SnapshotIngest ingest = store_->begin_snapshot(chain_);
  ASSERT_FALSE(ingest.present);
  ASSERT_TRUE(ingest.writer);
  const fs::path staging = ingest.writer->dir();
  EXPECT_TRUE(fs::is_empty(staging));
  EXPECT_NE(staging.parent_path(), store_->snapshot_path(chain_).parent_path());
  spit(staging / "file", "layer content");
  EXPECT_FALSE(store_->has_snapshot(chain_));  // not before commit

  ingest.writer->commit();

  EXPECT_TRUE(store_->has_snapshot(chain_));
  EXPECT_EQ(slurp(store_->snapshot_path(chain_) / "file"), "layer content");
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_TRUE(ingest_names().empty());  // neither staging nor lock file
  SnapshotIngest again = store_->begin_snapshot(chain_);
  EXPECT_TRUE(again.present);
  EXPECT_FALSE(again.writer);
}

// Durability off the critical path: a commit does not wait for the disk;
// the snapshot is marked with this boot, present in it, and made durable
// (the mark removed) by a later settle. Marks need CAP_SYS_ADMIN ("trusted."
// xattrs); without it commit syncs as before and no mark is set.
class UnsyncedSnapshotTest : public SnapshotStoreTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "trusted.* xattrs need root (CI runs as root)";
    SnapshotStoreTest::SetUp();
  }
  void commit_with(const std::string& content) {
    SnapshotIngest ingest = store_->begin_snapshot(chain_);
    ASSERT_FALSE(ingest.present);
    spit(ingest.writer->dir() / "file", content);
    ingest.writer->commit();
  }
  [[nodiscard]] std::string mark() const {
    std::string value(128, '\0');
    const ssize_t n = ::getxattr(store_->snapshot_path(chain_).c_str(), "trusted.gantry.unsynced", value.data(),
                                 value.size());
    return n < 0 ? std::string() : value.substr(0, static_cast<std::size_t>(n));
  }
  void set_mark(const std::string& value) {
    ASSERT_EQ(::setxattr(store_->snapshot_path(chain_).c_str(), "trusted.gantry.unsynced", value.data(),
                         value.size(), 0), 0);
  }
};

TEST_F(UnsyncedSnapshotTest, ACommittedSnapshotIsPresentAndMarkedWithThisBootUntilSettled) {
  commit_with("layer content");
  EXPECT_TRUE(store_->has_snapshot(chain_));
  EXPECT_TRUE(mark().starts_with(slurp("/proc/sys/kernel/random/boot_id").substr(0, 36) + " ")) << mark();
  // Too young to settle: the kernel has not written it back yet.
  store_->settle_snapshots(std::span(&chain_, 1), 30s);
  EXPECT_FALSE(mark().empty());
  store_->settle_snapshots(std::span(&chain_, 1), 0s);
  EXPECT_EQ(mark(), "");
  EXPECT_TRUE(store_->has_snapshot(chain_));
  EXPECT_EQ(slurp(store_->snapshot_path(chain_) / "file"), "layer content");
}

TEST_F(UnsyncedSnapshotTest, ASnapshotOfAnEarlierBootNeverSettledIsAbsentAndBuiltAgain) {
  commit_with("maybe cut by a power loss");
  for (const char* other : {"00000000-0000-0000-0000-000000000000 12", "garbage"}) {
    set_mark(other);
    EXPECT_FALSE(store_->has_snapshot(chain_)) << other;
    store_->settle_snapshots(std::span(&chain_, 1), 0s);  // not this boot's to settle
    EXPECT_EQ(mark(), other);
  }
  commit_with("built again");
  EXPECT_TRUE(store_->has_snapshot(chain_));
  EXPECT_EQ(slurp(store_->snapshot_path(chain_) / "file"), "built again");
  EXPECT_EQ(fs::directory_iterator(store_->snapshot_path(chain_))->path().filename(), "file");  // nothing else
}

TEST_F(UnsyncedSnapshotTest, ASettledSnapshotIsPresentWithoutAMark) {
  commit_with("durable");
  store_->settle_snapshots(std::span(&chain_, 1), 0s);
  ASSERT_EQ(mark(), "");
  EXPECT_TRUE(store_->has_snapshot(chain_));
  SnapshotIngest again = store_->begin_snapshot(chain_);
  EXPECT_TRUE(again.present);
}

// Unpacked layers may hold a host disk's device node (mode 0666), setuid
// files, world-writable dirs: no other user of the host may reach them, in
// staging or complete, and a store an earlier gantry made 0755 is tightened.
TEST_F(SnapshotStoreTest, OnlyTheStoresOwnerCanEnterSnapshotsAndTheirStaging) {
  auto mode_of = [](const fs::path& dir) {
    struct stat st {};
    EXPECT_EQ(::stat(dir.c_str(), &st), 0) << dir;
    return st.st_mode & 07777;
  };
  SnapshotIngest ingest = store_->begin_snapshot(chain_);
  ASSERT_TRUE(ingest.writer);
  EXPECT_EQ(mode_of(tmp_ / "store" / "ingest"), 0700u);
  EXPECT_EQ(mode_of(tmp_ / "store" / "snapshots"), 0700u);
  ingest.writer->commit();

  store_.reset();
  ASSERT_EQ(::chmod((tmp_ / "store" / "ingest").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((tmp_ / "store" / "snapshots").c_str(), 0755), 0);
  store_.emplace(tmp_ / "store");
  EXPECT_EQ(mode_of(tmp_ / "store" / "ingest"), 0700u);
  SnapshotIngest other = store_->begin_snapshot(digest_of("another chain ID"));
  EXPECT_EQ(mode_of(tmp_ / "store" / "snapshots"), 0700u);
}

TEST_F(SnapshotStoreTest, AWriterDroppedUncommittedLeavesNothing) {
  {
    SnapshotIngest ingest = store_->begin_snapshot(chain_);
    ASSERT_TRUE(ingest.writer);
    const fs::path staging = ingest.writer->dir();
    fs::create_directories(staging / "locked" / "deeper");
    spit(staging / "locked" / "deeper" / "file", "x");
    fs::permissions(staging / "locked", fs::perms::none);  // an image's mode-000 directory
  }
  EXPECT_FALSE(store_->has_snapshot(chain_));
  EXPECT_TRUE(ingest_names().empty());
  SnapshotIngest ingest = store_->begin_snapshot(chain_);
  ASSERT_TRUE(ingest.writer);
  EXPECT_TRUE(fs::is_empty(ingest.writer->dir()));
}

TEST_F(SnapshotStoreTest, TheStagingOfABuilderThatDiedIsStartedAfresh) {
  pid_t child = ::fork();
  if (child == 0) {
    ContentStore theirs(tmp_ / "store");
    SnapshotIngest ingest = theirs.begin_snapshot(chain_);
    spit(ingest.writer->dir() / "half-written", "x");
    ::_exit(0);  // no destructors: as if killed
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);

  SnapshotIngest ingest = store_->begin_snapshot(chain_);
  ASSERT_TRUE(ingest.writer);
  EXPECT_TRUE(fs::is_empty(ingest.writer->dir()));
  EXPECT_FALSE(store_->has_snapshot(chain_));
}

TEST_F(SnapshotStoreTest, ASecondBuilderWaitsAndThenFindsTheSnapshotPresent) {
  SnapshotIngest first = store_->begin_snapshot(chain_);
  ASSERT_TRUE(first.writer);
  ContentStore other(tmp_ / "store");
  auto second = std::async(std::launch::async, [&] { return other.begin_snapshot(chain_); });
  EXPECT_EQ(second.wait_for(200ms), std::future_status::timeout);

  first.writer->commit();

  SnapshotIngest waited = second.get();
  EXPECT_TRUE(waited.present);
  EXPECT_FALSE(waited.writer);
}

TEST_F(SnapshotStoreTest, ASecondBuilderTakesOverWhenTheFirstGivesUp) {
  SnapshotIngest first = store_->begin_snapshot(chain_);
  ASSERT_TRUE(first.writer);
  spit(first.writer->dir() / "partial", "x");
  auto second = std::async(std::launch::async, [&] { return store_->begin_snapshot(chain_); });
  EXPECT_EQ(second.wait_for(200ms), std::future_status::timeout);

  first.writer.reset();

  SnapshotIngest taken = second.get();
  ASSERT_TRUE(taken.writer);
  EXPECT_TRUE(fs::is_empty(taken.writer->dir()));
}

}  // namespace
}  // namespace gantry::core
