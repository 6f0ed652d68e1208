// core/lease.hpp: what a process holds is on disk for gc, held by a flock
// while the process lives; a lease nobody holds any more expires.
#include "core/lease.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/digest.hpp"
#include "tests/support/files.hpp"

namespace gantry::core {
namespace {

namespace fs = std::filesystem;

class LeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (fs::temp_directory_path() / "gantry-lease-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    root_ = dir;
  }
  void TearDown() override { fs::remove_all(root_); }

  [[nodiscard]] std::vector<fs::path> lease_files() const {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(root_ / kLeasesDir)) {
      if (entry.path().filename() != kGcLock) out.push_back(entry.path());
    }
    return out;
  }

  fs::path root_;
};

TEST_F(LeaseTest, NothingIsWrittenUntilTheFirstDigestIsHeld) {
  { Lease lease(root_); }
  EXPECT_FALSE(fs::exists(root_ / kLeasesDir));
  EXPECT_EQ(read_live_leases(root_, true).live, 0u);
}

TEST_F(LeaseTest, HeldDigestsAreLiveUntilTheLeaseEnds) {
  const Digest a = digest_of("a"), b = digest_of("b");
  {
    Lease lease(root_);
    lease.hold(a);
    lease.hold(b);
    lease.hold(a);  // once
    ASSERT_EQ(lease_files().size(), 1u);
    EXPECT_EQ(gantry::testing::slurp(lease_files()[0]), a.string() + "\n" + b.string() + "\n");
    const LiveLeases live = read_live_leases(root_, true);
    EXPECT_EQ(live.live, 1u);
    EXPECT_EQ(live.held, (std::set<std::string>{a.string(), b.string()}));
  }
  EXPECT_TRUE(lease_files().empty());
  EXPECT_TRUE(read_live_leases(root_, true).held.empty());
}

TEST_F(LeaseTest, TwoLeasesOfOneProcessAreBothLive) {
  Lease one(root_), two(root_);
  one.hold(digest_of("a"));
  two.hold(digest_of("b"));
  const LiveLeases live = read_live_leases(root_, true);
  EXPECT_EQ(live.live, 2u);
  EXPECT_EQ(live.held.size(), 2u);
}

TEST_F(LeaseTest, ALeaseNobodyLocksExpiresAndIsRemovedOnlyWhenAsked) {
  fs::create_directories(root_ / kLeasesDir);
  const fs::path dead = root_ / kLeasesDir / "4242-1";
  gantry::testing::spit(dead, digest_of("a").string() + "\n");

  const LiveLeases looked = read_live_leases(root_, false);
  EXPECT_EQ(looked.expired, 1u);
  EXPECT_TRUE(looked.held.empty());
  EXPECT_TRUE(fs::exists(dead));

  const LiveLeases swept = read_live_leases(root_, true);
  EXPECT_EQ(swept.expired, 1u);
  EXPECT_FALSE(fs::exists(dead));
}

}  // namespace
}  // namespace gantry::core
