// The container's process from the image config and docker-run-style
// overrides, and the files of the rootfs it reads (safely).
#include "runtime/process_spec.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "runtime/rootfs.hpp"
#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"

namespace gantry::runtime {
namespace {

namespace fs = std::filesystem;
using core::ErrorKind;
using gantry::testing::error_of;
using gantry::testing::spit;
using Args = std::vector<std::string>;

class ProcessSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/gantry-process-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    base_ = templ;
    rootfs_ = base_ / "rootfs";
    fs::create_directories(rootfs_ / "etc");
    spit(rootfs_ / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
    spit(rootfs_ / "etc/group", "root:x:0:\napp:x:1000:\nextra:x:3000:app\n");
    spit(base_ / "host-passwd", "app:x:7:7::/host:/bin/sh\n");
    config_.entrypoint = {"/entry", "--flag"};
    config_.cmd = {"default", "args"};
    config_.env = {"PATH=/image/bin", "FOO=image", "KEEP=1"};
    config_.working_dir = "/srv";
    config_.user = "app";
  }
  void TearDown() override { fs::remove_all(base_); }

  ProcessSpec spec(const ProcessOverrides& overrides = {}) {
    return make_process_spec(config_, overrides, rootfs_, "box");
  }

  fs::path base_;
  fs::path rootfs_;
  core::ImageConfig config_;
};

TEST_F(ProcessSpecTest, TheImageDecidesWhenNothingIsOverridden) {
  ProcessSpec p = spec();
  EXPECT_EQ(p.args, (Args{"/entry", "--flag", "default", "args"}));
  EXPECT_EQ(p.cwd, "/srv");
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.additional_gids, std::vector<std::uint32_t>{3000});
  EXPECT_EQ(p.env, (Args{"PATH=/image/bin", "FOO=image", "KEEP=1", "HOSTNAME=box", "HOME=/home/app"}));
}

TEST_F(ProcessSpecTest, ACommandReplacesCmdAndKeepsTheEntrypoint) {
  EXPECT_EQ(spec({.command = Args{"x", "y"}}).args, (Args{"/entry", "--flag", "x", "y"}));
}

TEST_F(ProcessSpecTest, AnEntrypointOverrideDropsTheImagesCmd) {
  EXPECT_EQ(spec({.entrypoint = "/bin/other"}).args, Args{"/bin/other"});
  EXPECT_EQ(spec({.entrypoint = "/bin/other", .command = Args{"a"}}).args, (Args{"/bin/other", "a"}));
  EXPECT_EQ(spec({.entrypoint = "", .command = Args{"sh"}}).args, Args{"sh"});
}

TEST_F(ProcessSpecTest, NothingToRunIsAnError) {
  config_.entrypoint.clear();
  config_.cmd.clear();
  auto err = error_of([&] { (void)spec(); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::bad_input);
  EXPECT_NE(err->message().find("no command"), std::string::npos);
  EXPECT_TRUE(error_of([&] { (void)spec({.entrypoint = ""}); }));
}

TEST_F(ProcessSpecTest, EnvOverridesReplaceInPlaceAndDefaultsFillTheGaps) {
  ::setenv("GANTRY_TEST_FROM_HOST", "host value", 1);
  ::unsetenv("GANTRY_TEST_UNSET");
  ProcessSpec p = spec({.env = Args{"FOO=cli", "NEW=1", "GANTRY_TEST_FROM_HOST", "GANTRY_TEST_UNSET", "HOME=/h"}});
  EXPECT_EQ(p.env, (Args{"PATH=/image/bin", "FOO=cli", "KEEP=1", "NEW=1", "GANTRY_TEST_FROM_HOST=host value",
                         "HOME=/h", "HOSTNAME=box"}));
  config_.env.clear();
  EXPECT_EQ(spec().env.front(), std::string(kDefaultPath));
  EXPECT_TRUE(error_of([&] { (void)spec({.env = Args{"=x"}}); }));
}

TEST_F(ProcessSpecTest, ATerminalGetsTheCallersTermElseXtermUnlessTheImageOrCommandLineSetsIt) {
  ::setenv("TERM", "screen-256color", 1);
  EXPECT_EQ(spec({.terminal = true}).env.back(), "TERM=screen-256color");
  ::unsetenv("TERM");
  EXPECT_EQ(spec({.terminal = true}).env.back(), "TERM=xterm");
  for (const std::string& term : spec().env) EXPECT_FALSE(term.starts_with("TERM=")) << "no terminal, no TERM";
  EXPECT_EQ(spec({.env = Args{"TERM=vt100"}, .terminal = true}).env,
            (Args{"PATH=/image/bin", "FOO=image", "KEEP=1", "TERM=vt100", "HOSTNAME=box", "HOME=/home/app"}));
  config_.env.push_back("TERM=linux");
  EXPECT_EQ(spec({.terminal = true}).env.back(), "HOME=/home/app") << "the image's TERM stays";
}

// Merging is linear: a scan per entry would take minutes here (and hit
// ctest's timeout) where an index takes well under a second.
TEST_F(ProcessSpecTest, HugeEnvironmentsMergeInImageOrderWithOverridesInPlace) {
  constexpr int kImage = 200'000, kOverrides = 100'000;
  config_.env.clear();
  for (int i = 0; i < kImage; ++i) config_.env.push_back("K" + std::to_string(i) + "=image");
  ProcessOverrides overrides;
  // Every other entry of the image's upper half overridden (from the last one back), then as many new ones.
  for (int i = kImage - 2; i >= 0 && overrides.env.size() < kOverrides / 2; i -= 2) {
    overrides.env.push_back("K" + std::to_string(i) + "=cli");
  }
  for (int i = 0; i < kOverrides / 2; ++i) overrides.env.push_back("N" + std::to_string(i) + "=new");
  const ProcessSpec p = spec(overrides);

  ASSERT_EQ(p.env.size(), 1u + kImage + kOverrides / 2 + 2u);  // PATH, image, new, HOSTNAME, HOME
  EXPECT_EQ(p.env.front(), std::string(kDefaultPath));
  for (int i = 0; i < kImage; ++i) {
    ASSERT_EQ(p.env[1 + i], "K" + std::to_string(i) + (i % 2 == 0 && i >= kImage - kOverrides ? "=cli" : "=image"))
        << i;
  }
  for (int i = 0; i < kOverrides / 2; ++i) ASSERT_EQ(p.env[1 + kImage + i], "N" + std::to_string(i) + "=new") << i;
  EXPECT_EQ(p.env[p.env.size() - 2], "HOSTNAME=box");
  EXPECT_EQ(p.env.back(), "HOME=/home/app");
}

TEST_F(ProcessSpecTest, WorkdirAndUserOverrides) {
  ProcessSpec p = spec({.user = std::string("0:3000"), .workdir = std::string("/data")});
  EXPECT_EQ(p.cwd, "/data");
  EXPECT_EQ(p.user.uid, 0u);
  EXPECT_EQ(p.user.gid, 3000u);
  auto err = error_of([&] { (void)spec({.workdir = std::string("relative")}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::bad_input);
  config_.working_dir = "old/style";
  EXPECT_EQ(spec().cwd, "/old/style");
  config_.working_dir.clear();
  EXPECT_EQ(spec().cwd, "/");
  EXPECT_TRUE(error_of([&] { (void)spec({.user = std::string("ghost")}); }));
}

TEST_F(ProcessSpecTest, ThePasswdFileIsReadInsideTheRootfs) {
  // An image's /etc/passwd pointing at a host file is resolved inside the
  // rootfs, where the target does not exist: names are then unknown.
  fs::remove(rootfs_ / "etc/passwd");
  fs::create_symlink(base_ / "host-passwd", rootfs_ / "etc/passwd");
  EXPECT_TRUE(error_of([&] { (void)spec(); }));
  fs::remove(rootfs_ / "etc/passwd");
  fs::create_symlink("../../host-passwd", rootfs_ / "etc/passwd");
  EXPECT_TRUE(error_of([&] { (void)spec(); }));
  fs::remove(rootfs_ / "etc/passwd");
  ASSERT_EQ(::mkfifo((rootfs_ / "etc/passwd").c_str(), 0644), 0);
  auto fifo = error_of([&] { (void)spec(); });  // and does not hang
  ASSERT_TRUE(fifo);
  EXPECT_EQ(fifo->kind(), ErrorKind::bad_input);
}

TEST_F(ProcessSpecTest, MakeDirectoryInStaysInsideTheRootfs) {
  make_directory_in(rootfs_, "/srv/app/data");
  EXPECT_TRUE(fs::is_directory(rootfs_ / "srv/app/data"));
  fs::create_symlink("/", rootfs_ / "to-root");
  make_directory_in(rootfs_, "/to-root/made");
  EXPECT_TRUE(fs::is_directory(rootfs_ / "made")) << "an absolute link resolves inside the rootfs";
  fs::create_symlink(base_, rootfs_ / "escape");  // exists on the host, not in the rootfs
  auto dangling = error_of([&] { make_directory_in(rootfs_, "/escape/made"); });
  ASSERT_TRUE(dangling);
  EXPECT_EQ(dangling->kind(), ErrorKind::bad_input);
  EXPECT_FALSE(fs::exists(base_ / "made"));
  make_directory_in(rootfs_, "/../../up");
  EXPECT_TRUE(fs::is_directory(rootfs_ / "up"));
  EXPECT_FALSE(fs::exists(base_.parent_path() / "up"));
  spit(rootfs_ / "file", "x");
  auto err = error_of([&] { make_directory_in(rootfs_, "/file/sub"); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::bad_input);
}

}  // namespace
}  // namespace gantry::runtime
