// The container's overlay: as many lower dirs as overlayfs stacks (500),
// not as many as fit in mount(2)'s one page of options (about 40).
#include "runtime/detail/overlay_mount.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"

namespace gantry::runtime::detail {
namespace {

namespace fs = std::filesystem;
using gantry::testing::error_of;

class OverlayMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (fs::temp_directory_path() / "gantry-overlay-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    tmp_ = dir;
    fs::create_directories(tmp_ / "container");
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Lower dirs, top first; each holds the file "N" and "top" saying N.
  std::vector<fs::path> lowers(std::size_t count) {
    std::vector<fs::path> dirs;
    for (std::size_t i = 0; i < count; ++i) {
      // A long path: these would fill mount(2)'s page after a few dozen.
      const fs::path dir = tmp_ / "snapshots" / "sha256" / (std::string(64, 'a') + std::to_string(i));
      fs::create_directories(dir);
      testing::spit(dir / std::to_string(i), "");
      testing::spit(dir / "top", std::to_string(i));
      dirs.push_back(dir);
    }
    return dirs;
  }

  fs::path tmp_;
};

TEST_F(OverlayMountTest, MoreLayersThanOverlayfsStacksAreUnsupportedBeforeAnythingIsMade) {
  std::vector<fs::path> dirs(kMaxOverlayLayers + 1, tmp_);
  auto error = error_of([&] { OverlayMount mount(dirs, tmp_ / "container", UpperSync::synced); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind(), core::ErrorKind::unsupported);
  EXPECT_NE(std::string(error->what()).find("501"), std::string::npos) << error->what();
  EXPECT_TRUE(fs::is_empty(tmp_ / "container"));
}

TEST_F(OverlayMountTest, StacksAsManyLayersAsOverlayfsAllows) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  const std::vector<fs::path> dirs = lowers(kMaxOverlayLayers);
  {
    OverlayMount mount(dirs, tmp_ / "container", UpperSync::synced);
    EXPECT_EQ(testing::slurp(mount.merged() / "top"), "0");  // the first is the top
    EXPECT_TRUE(fs::exists(mount.merged() / std::to_string(kMaxOverlayLayers - 1)));
    EXPECT_EQ(std::distance(fs::directory_iterator(mount.merged()), fs::directory_iterator()),
              static_cast<long>(kMaxOverlayLayers) + 1);
  }
  EXPECT_TRUE(fs::is_empty(tmp_ / "container" / "merged"));  // detached again
}

}  // namespace
}  // namespace gantry::runtime::detail
