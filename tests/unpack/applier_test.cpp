// The secure applier on hand-built entry sequences: every entry type and
// attribute, type changes, whiteouts in both modes, and a security suite of
// hostile layers, each proving that nothing beside the root changed.
#include "unpack/applier.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace gantry::unpack {
namespace {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorKind;

using gantry::testing::error_of;

// ---- entries -------------------------------------------------------------

class FakeData final : public EntryData {
 public:
  explicit FakeData(std::vector<std::pair<std::int64_t, std::string>> blocks) : blocks_(std::move(blocks)) {}
  bool next(std::int64_t& offset, std::span<const std::byte>& bytes) override {
    if (next_ == blocks_.size()) return false;
    const auto& [at, text] = blocks_[next_++];
    offset = at;
    bytes = std::as_bytes(std::span(text));
    return true;
  }

 private:
  std::vector<std::pair<std::int64_t, std::string>> blocks_;
  std::size_t next_ = 0;
};

// An entry and the data blocks its EntryData yields.
struct E {
  TarEntry entry;
  std::vector<std::pair<std::int64_t, std::string>> blocks{};
};

E file(std::string path, std::string content, std::uint32_t mode = 0644) {
  E e;
  e.entry.type = EntryType::regular;
  e.entry.path = std::move(path);
  e.entry.mode = mode;
  e.entry.size = static_cast<std::int64_t>(content.size());
  e.entry.mtime_sec = 1'600'000'000;
  if (!content.empty()) e.blocks.emplace_back(0, std::move(content));
  return e;
}

E dir(std::string path, std::uint32_t mode = 0755) {
  E e;
  e.entry.type = EntryType::directory;
  e.entry.path = std::move(path);
  e.entry.mode = mode;
  e.entry.mtime_sec = 1'500'000'000;
  return e;
}

E symlink(std::string path, std::string target) {
  E e;
  e.entry.type = EntryType::symlink;
  e.entry.path = std::move(path);
  e.entry.link_target = std::move(target);
  e.entry.mode = 0777;
  e.entry.mtime_sec = 1'400'000'000;
  return e;
}

E hardlink(std::string path, std::string target) {
  E e = symlink(std::move(path), std::move(target));
  e.entry.type = EntryType::hardlink;
  return e;
}

E node(EntryType type, std::string path, std::uint32_t major = 0, std::uint32_t minor = 0) {
  E e;
  e.entry.type = type;
  e.entry.path = std::move(path);
  e.entry.mode = 0640;
  e.entry.dev_major = major;
  e.entry.dev_minor = minor;
  e.entry.mtime_sec = 1'300'000'000;
  return e;
}

E whiteout(std::string path) { return file(std::move(path), ""); }

ApplyStats apply_layer(const fs::path& root, const std::vector<E>& layer, ApplyOptions options = {}) {
  Applier applier(root, std::move(options));
  for (const E& e : layer) {
    FakeData data(e.blocks);
    applier.apply(e.entry, data);
  }
  applier.finish();
  return applier.stats();
}

ApplyOptions snapshot_over(std::vector<fs::path> lowers = {}) {
  return ApplyOptions{.mode = ApplyMode::snapshot, .preserve_owners = true, .lower_dirs = std::move(lowers)};
}

// ---- inspecting the result ----------------------------------------------

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

bool exists_nofollow(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

using gantry::testing::slurp;
using gantry::testing::spit;

std::optional<std::string> xattr_of(const fs::path& p, const char* name) {
  char buffer[256];
  ssize_t n = ::lgetxattr(p.c_str(), name, buffer, sizeof buffer);
  if (n < 0) return std::nullopt;
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Everything lstat says about a tree, and file contents, as text: two calls
// compare equal only if nothing in the tree changed.
std::string tree_text(const fs::path& top, const std::vector<fs::path>& skip) {
  std::ostringstream out;
  std::function<void(const fs::path&)> walk = [&](const fs::path& p) {
    const struct stat st = lstat_of(p);
    out << fs::relative(p, top).string() << " mode=" << std::oct << st.st_mode << std::dec << " uid=" << st.st_uid
        << " gid=" << st.st_gid << " nlink=" << st.st_nlink << " size=" << st.st_size << " mtime=" << st.st_mtim.tv_sec
        << "." << st.st_mtim.tv_nsec << " ctime=" << st.st_ctim.tv_sec << "." << st.st_ctim.tv_nsec;
    if (S_ISLNK(st.st_mode)) out << " -> " << fs::read_symlink(p).string();
    if (S_ISREG(st.st_mode)) out << " data=" << slurp(p);
    out << '\n';
    if (!S_ISDIR(st.st_mode)) return;
    std::vector<fs::path> children;
    for (const auto& e : fs::directory_iterator(p)) {
      if (std::find(skip.begin(), skip.end(), e.path()) == skip.end()) children.push_back(e.path());
    }
    std::sort(children.begin(), children.end());
    for (const auto& c : children) walk(c);
  };
  walk(top);
  return out.str();
}

// ---- fixture -------------------------------------------------------------

// base/outside is the sentinel a hostile layer would aim at; the root is
// base/jail/cell/root, so that "../../../outside" from the root reaches it.
// Lower snapshots go to base/layers. Everything else below base, directory
// times included, must be the same after every test.
class ApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/gantry-applier-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    base_ = templ;
    root_ = base_ / "jail" / "cell" / "root";
    layers_ = base_ / "layers";
    outside_ = base_ / "outside";
    fs::create_directories(root_);
    fs::create_directories(outside_ / "dir");
    spit(outside_ / "passwd", "secret");
    spit(outside_ / "dir" / "file", "keep");
    fs::create_directories(layers_ / "lower");
    // Sub-second mtimes from the clock differ run to run; fixed ones make
    // the comparison exact.
    const timespec fixed[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
    for (const auto& p : {outside_ / "passwd", outside_ / "dir" / "file", outside_ / "dir", outside_}) {
      ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), fixed, AT_SYMLINK_NOFOLLOW), 0) << p;
    }
    sentinel_ = tree_text(base_, {root_, layers_});
  }
  void TearDown() override {
    EXPECT_EQ(tree_text(base_, {root_, layers_}), sentinel_) << "something beside the root changed";
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  // For hostile tests: the sentinel, checked now (and again in TearDown).
  void expect_outside_unchanged() { EXPECT_EQ(tree_text(base_, {root_, layers_}), sentinel_); }

  // An absolute name the host would resolve to the sentinel.
  std::string outside_abs() const { return outside_.string(); }

  fs::path base_, root_, layers_, outside_;
  std::string sentinel_;
};

// ---- regular files and attributes ---------------------------------------

TEST_F(ApplierTest, RegularFileContentModeOwnerAndNanosecondMtime) {
  E f = file("etc/motd", "hello\n", 0640);
  f.entry.uid = 1234;
  f.entry.gid = 5678;
  f.entry.mtime_sec = 1'600'000'123;
  f.entry.mtime_nsec = 456'789'012;
  const ApplyStats stats = apply_layer(root_, {dir("etc"), f});
  const struct stat st = lstat_of(root_ / "etc/motd");
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'600'000'123);
  EXPECT_EQ(st.st_mtim.tv_nsec, 456'789'012);
  EXPECT_EQ(slurp(root_ / "etc/motd"), "hello\n");
  EXPECT_EQ(stats.entries, 2);
  EXPECT_EQ(stats.files, 1);
  EXPECT_EQ(stats.bytes, 6);
}

TEST_F(ApplierTest, DataInSeveralBlocksAndEmptyFile) {
  E f = file("big", "");
  f.entry.size = 10;
  f.blocks = {{0, "0123"}, {4, "456789"}};
  apply_layer(root_, {f, file("empty", "")});
  EXPECT_EQ(slurp(root_ / "big"), "0123456789");
  EXPECT_EQ(fs::file_size(root_ / "empty"), 0u);
}

TEST_F(ApplierTest, SetuidSetgidAndStickySurviveTheChown) {
  E suid = file("suid", "x", 04755);
  suid.entry.uid = 1000;  // chown(2) after chmod would clear the bit
  E sgid = file("sgid", "x", 02711);
  sgid.entry.gid = 1000;
  apply_layer(root_, {suid, sgid, dir("tmp", 01777)});
  EXPECT_EQ(lstat_of(root_ / "suid").st_mode & 07777, 04755u);
  EXPECT_EQ(lstat_of(root_ / "sgid").st_mode & 07777, 02711u);
  EXPECT_EQ(lstat_of(root_ / "tmp").st_mode & 07777, 01777u);
}

TEST_F(ApplierTest, ModesTheUmaskWouldStripAndReadOnlyFiles) {
  const mode_t old = ::umask(022);
  apply_layer(root_, {file("shared", "w", 0666), file("group", "g", 0775), file("readonly", "data", 0444)});
  ::umask(old);
  EXPECT_EQ(lstat_of(root_ / "shared").st_mode & 07777, 0666u);
  EXPECT_EQ(lstat_of(root_ / "group").st_mode & 07777, 0775u);
  EXPECT_EQ(lstat_of(root_ / "readonly").st_mode & 07777, 0444u);
  EXPECT_EQ(slurp(root_ / "readonly"), "data");
}

TEST_F(ApplierTest, OwnersBelowASetgidDirectoryAreTheEntries) {
  E sg = dir("sg", 02775);
  sg.entry.gid = 50;
  apply_layer(root_, {sg});
  // Created below a setgid directory, a file would take its group 50.
  apply_layer(root_, {file("sg/f", "f"), symlink("sg/l", "f"), dir("sg/d")});
  EXPECT_EQ(lstat_of(root_ / "sg").st_mode & 07777, 02775u);
  EXPECT_EQ(lstat_of(root_ / "sg/f").st_gid, 0u);
  EXPECT_EQ(lstat_of(root_ / "sg/l").st_gid, 0u);
  EXPECT_EQ(lstat_of(root_ / "sg/d").st_gid, 0u);
}

TEST_F(ApplierTest, SparseFileKeepsHolesAndSize) {
  constexpr std::int64_t kSize = 8 << 20;
  E f = file("sparse", "");
  f.entry.size = kSize;
  f.blocks = {{0, "head"}, {4 << 20, "middle"}, {kSize, ""}};  // the tail is a hole
  apply_layer(root_, {f});
  const struct stat st = lstat_of(root_ / "sparse");
  EXPECT_EQ(st.st_size, kSize);
  EXPECT_LT(st.st_blocks * 512, kSize / 4) << "holes were written out";
  const std::string data = slurp(root_ / "sparse");
  EXPECT_EQ(data.substr(0, 4), "head");
  EXPECT_EQ(data.substr(4 << 20, 6), "middle");
  EXPECT_EQ(data.find_first_not_of('\0', 4), std::size_t{4 << 20});
  EXPECT_EQ(data.find_first_not_of('\0', (4 << 20) + 6), std::string::npos);
}

// ApplyOptions::max_disk_bytes: data counts its bytes, a segment after a
// hole a 4 KiB block more, holes nothing.
E sparse_file(std::string path, std::int64_t size, std::int64_t segments, std::int64_t stride) {
  E f = file(std::move(path), "");
  f.entry.size = size;
  f.entry.sparse_segments = segments;
  for (std::int64_t i = 0; i < segments; ++i) f.blocks.emplace_back(stride * (i + 1), "x");
  f.blocks.emplace_back(size, "");
  return f;
}

TEST_F(ApplierTest, ASparseMapOutOfProportionToTheLimitIsRefusedBeforeItsData) {
  // 3,000 one-byte segments 8 KiB apart: 3 KB of data, 12 MB of blocks.
  const E f = sparse_file("many", 3000 * 8192 + 8192, 3000, 8192);
  const auto e = error_of([&] { apply_layer(root_, {f}, ApplyOptions{.max_disk_bytes = 10 << 20}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::bad_input);
  EXPECT_EQ(e->context().path, "many");
  EXPECT_NE(e->message().find(std::to_string(10 << 20)), std::string::npos) << e->message();
  EXPECT_EQ(lstat_of(root_ / "many").st_blocks, 0) << "refused before writing";
  // Without a limit, or under one it fits, it is applied.
  EXPECT_NO_THROW(apply_layer(root_, {f}, ApplyOptions{.max_disk_bytes = 13 << 20}));
  EXPECT_EQ(slurp(root_ / "many").substr(8192, 1), "x");
}

TEST_F(ApplierTest, SegmentsCountAgainstTheLimitAcrossFiles) {
  // Each file's 1,000 segments (4 MB of blocks) fit alone; the third does not.
  const E a = sparse_file("a", 1000 * 8192 + 8192, 1000, 8192);
  E b = a, c = a;
  b.entry.path = "b";
  c.entry.path = "c";
  const auto e = error_of([&] { apply_layer(root_, {a, b, c}, ApplyOptions{.max_disk_bytes = 10 << 20}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->context().path, "c");
}

TEST_F(ApplierTest, HolesCostNothingAgainstTheLimit) {
  constexpr std::int64_t kTiB = std::int64_t{1} << 40;
  E f = file("huge", "");
  f.entry.size = kTiB;
  f.entry.sparse_segments = 1;
  f.blocks = {{kTiB - 4096, std::string(4096, 'y')}, {kTiB, ""}};
  E plain = file("plain", std::string(1 << 20, 'p'));
  apply_layer(root_, {f, plain}, ApplyOptions{.max_disk_bytes = 2 << 20});
  const struct stat st = lstat_of(root_ / "huge");
  EXPECT_EQ(st.st_size, kTiB);
  EXPECT_LE(st.st_blocks * 512, 64 * 1024);
  // Plain data counts its bytes: over the limit is refused.
  const auto e = error_of([&] { apply_layer(root_, {file("big", std::string(3 << 20, 'b'))},
                                            ApplyOptions{.max_disk_bytes = 2 << 20}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->context().path, "big");
}

TEST_F(ApplierTest, DataThatDoesNotMatchTheSizeIsRefused) {
  E short_data = file("short", "abc");
  short_data.entry.size = 4;
  E long_data = file("long", "abcde");
  long_data.entry.size = 4;
  E beyond = file("beyond", "");
  beyond.entry.size = 4;
  beyond.blocks = {{2, "abc"}};
  E overlap = file("overlap", "");
  overlap.entry.size = 4;
  overlap.blocks = {{0, "abc"}, {2, "cd"}};
  E none = file("none", "");
  none.entry.size = 1;
  for (const E& e : {short_data, long_data, beyond, overlap, none}) {
    auto err = error_of([&] { apply_layer(root_, {e}); });
    ASSERT_TRUE(err) << e.entry.path;
    EXPECT_EQ(err->kind(), ErrorKind::bad_input) << e.entry.path;
    EXPECT_EQ(err->context().path, e.entry.path);
  }
}

TEST_F(ApplierTest, OutOfRangeOwnerIsRefused) {
  E f = file("f", "x");
  f.entry.uid = std::int64_t{1} << 32;
  auto err = error_of([&] { apply_layer(root_, {f}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::bad_input);
}

TEST_F(ApplierTest, OwnersAreLeftAloneWhenNotPreserved) {
  E f = file("f", "x");
  f.entry.uid = 4321;
  apply_layer(root_, {f}, ApplyOptions{.preserve_owners = false});
  EXPECT_EQ(lstat_of(root_ / "f").st_uid, ::geteuid());
}

// ---- directories ----------------------------------------------------------

TEST_F(ApplierTest, DirectoryAttributesAndImplicitParents) {
  E d = dir("a/b/c", 0750);
  d.entry.uid = 7;
  d.entry.gid = 8;
  apply_layer(root_, {d, file("x/y/z", "z")});
  const struct stat st = lstat_of(root_ / "a/b/c");
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_gid, 8u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'500'000'000);
  for (const char* implicit : {"a", "a/b", "x", "x/y"}) {
    const struct stat p = lstat_of(root_ / implicit);
    EXPECT_TRUE(S_ISDIR(p.st_mode)) << implicit;
    EXPECT_EQ(p.st_mode & 07777, 0755u) << implicit;
    EXPECT_EQ(p.st_uid, 0u) << implicit;
  }
}

TEST_F(ApplierTest, DirectoryMtimesSurviveLaterCreations) {
  E d = dir("d", 0755);
  d.entry.mtime_sec = 1'234'567'890;
  d.entry.mtime_nsec = 5;
  E sub = dir("d/sub", 0700);
  sub.entry.mtime_sec = 1'111'111'111;
  apply_layer(root_, {d, sub, file("d/f1", "1"), file("d/sub/f2", "2"), symlink("d/l", "f1"), file("d/f3", "3")});
  EXPECT_EQ(lstat_of(root_ / "d").st_mtim.tv_sec, 1'234'567'890);
  EXPECT_EQ(lstat_of(root_ / "d").st_mtim.tv_nsec, 5);
  EXPECT_EQ(lstat_of(root_ / "d/sub").st_mtim.tv_sec, 1'111'111'111);
}

TEST_F(ApplierTest, ModeZeroDirectoryGetsItsContentFirst) {
  apply_layer(root_, {dir("locked", 0), dir("locked/inner", 0), file("locked/inner/f", "data", 0), file("locked/g", "g")});
  EXPECT_EQ(lstat_of(root_ / "locked").st_mode & 07777, 0u);
  EXPECT_EQ(lstat_of(root_ / "locked/inner").st_mode & 07777, 0u);
  EXPECT_EQ(slurp(root_ / "locked/inner/f"), "data");
  EXPECT_EQ(lstat_of(root_ / "locked/inner/f").st_mode & 07777, 0u);
  EXPECT_EQ(lstat_of(root_ / "locked").st_mtim.tv_sec, 1'500'000'000);
}

TEST_F(ApplierTest, RootEntryReplacesTheRootsAttributes) {
  E r = dir("./", 0711);
  r.entry.mtime_sec = 1'222'333'444;
  apply_layer(root_, {r, file("f", "x")});
  EXPECT_EQ(lstat_of(root_).st_mode & 07777, 0711u);
  EXPECT_EQ(lstat_of(root_).st_mtim.tv_sec, 1'222'333'444);
}

TEST_F(ApplierTest, DirectoryOverDirectoryKeepsContentAndReplacesAttributes) {
  E lower = dir("d", 0700);
  lower.entry.uid = 1;
  apply_layer(root_, {lower, file("d/kept", "k")});
  E upper = dir("d", 0755);
  upper.entry.uid = 2;
  upper.entry.gid = 3;
  upper.entry.mtime_sec = 1'700'000'000;
  upper.entry.xattrs = {{"user.layer", "2"}};
  apply_layer(root_, {upper});
  const struct stat st = lstat_of(root_ / "d");
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_uid, 2u);
  EXPECT_EQ(st.st_gid, 3u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'700'000'000);
  EXPECT_EQ(xattr_of(root_ / "d", "user.layer"), "2");
  EXPECT_EQ(slurp(root_ / "d/kept"), "k");
}

// ---- links -------------------------------------------------------------

TEST_F(ApplierTest, SymlinksAreStoredVerbatimWithTheirOwnOwnerAndTime) {
  E abs = symlink("abs", "/usr/bin/env");
  abs.entry.uid = 11;
  abs.entry.gid = 12;
  E target = file("target", "t", 0600);
  target.entry.uid = 5;
  apply_layer(root_, {target, abs, symlink("rel", "../x/./y"), symlink("dangling", "nowhere"), symlink("tofile", "target")});
  EXPECT_EQ(fs::read_symlink(root_ / "abs"), "/usr/bin/env");
  EXPECT_EQ(fs::read_symlink(root_ / "rel"), "../x/./y");
  EXPECT_EQ(fs::read_symlink(root_ / "dangling"), "nowhere");
  const struct stat link = lstat_of(root_ / "abs");
  EXPECT_EQ(link.st_uid, 11u);
  EXPECT_EQ(link.st_gid, 12u);
  EXPECT_EQ(link.st_mtim.tv_sec, 1'400'000'000);
  // Owner, mode and time of "tofile" went to the link, not to its target.
  const struct stat t = lstat_of(root_ / "target");
  EXPECT_EQ(t.st_uid, 5u);
  EXPECT_EQ(t.st_mode & 07777, 0600u);
  EXPECT_EQ(t.st_mtim.tv_sec, 1'600'000'000);
}

TEST_F(ApplierTest, HardlinkGroupsShareOneInode) {
  apply_layer(root_, {file("bin/a", "payload", 0755), hardlink("bin/b", "bin/a"), hardlink("sbin/c", "/bin/b"),
                      hardlink("bin/b", "bin/a")});
  const struct stat a = lstat_of(root_ / "bin/a");
  EXPECT_EQ(a.st_nlink, 3u);
  EXPECT_EQ(lstat_of(root_ / "bin/b").st_ino, a.st_ino);
  EXPECT_EQ(lstat_of(root_ / "sbin/c").st_ino, a.st_ino);
}

TEST_F(ApplierTest, HardlinkToASymlinkLinksTheSymlinkItself) {
  apply_layer(root_, {file("real", "r"), symlink("soft", "real"), hardlink("hard", "soft")});
  const struct stat hard = lstat_of(root_ / "hard");
  EXPECT_TRUE(S_ISLNK(hard.st_mode));
  EXPECT_EQ(hard.st_ino, lstat_of(root_ / "soft").st_ino);
  EXPECT_EQ(lstat_of(root_ / "real").st_nlink, 1u);
}

TEST_F(ApplierTest, HardlinkToADirectoryOrToNothingIsRefused) {
  for (const E& bad : {hardlink("l1", "d"), hardlink("l2", "missing"), hardlink("l3", "."), hardlink("l4", "d/..")}) {
    auto err = error_of([&] { apply_layer(root_, {dir("d"), bad}); });
    ASSERT_TRUE(err) << bad.entry.path;
    EXPECT_EQ(err->kind(), ErrorKind::bad_input) << bad.entry.path;
    EXPECT_EQ(err->context().path, bad.entry.path);
  }
}

TEST_F(ApplierTest, FileOverAHardlinkedFileLeavesTheOtherLinkAlone) {
  apply_layer(root_, {file("a", "old"), hardlink("b", "a")});
  apply_layer(root_, {file("a", "new")});
  EXPECT_EQ(slurp(root_ / "a"), "new");
  EXPECT_EQ(slurp(root_ / "b"), "old");
  EXPECT_NE(lstat_of(root_ / "a").st_ino, lstat_of(root_ / "b").st_ino);
}

// ---- devices, fifos, xattrs --------------------------------------------

TEST_F(ApplierTest, DevicesAndFifos) {
  if (::geteuid() != 0) GTEST_SKIP() << "devices need root";
  E null = node(EntryType::char_device, "dev/null", 1, 3);
  null.entry.mode = 0666;
  null.entry.uid = 3;
  E loop = node(EntryType::block_device, "dev/loop9", 7, 9);
  apply_layer(root_, {null, loop, node(EntryType::fifo, "run/fifo")});
  const struct stat c = lstat_of(root_ / "dev/null");
  EXPECT_TRUE(S_ISCHR(c.st_mode));
  EXPECT_EQ(c.st_rdev, makedev(1, 3));
  EXPECT_EQ(c.st_mode & 07777, 0666u);
  EXPECT_EQ(c.st_uid, 3u);
  EXPECT_EQ(c.st_mtim.tv_sec, 1'300'000'000);
  const struct stat b = lstat_of(root_ / "dev/loop9");
  EXPECT_TRUE(S_ISBLK(b.st_mode));
  EXPECT_EQ(b.st_rdev, makedev(7, 9));
  EXPECT_EQ(b.st_mode & 07777, 0640u);
  EXPECT_TRUE(S_ISFIFO(lstat_of(root_ / "run/fifo").st_mode));
}

// As umoci --rootless does: without CAP_MKNOD devices are left out, and said so.
TEST_F(ApplierTest, WithoutRootDevicesAreSkippedAndCounted) {
  const std::vector<E> layer = {node(EntryType::char_device, "dev/null", 1, 3),
                                node(EntryType::block_device, "dev/loop9", 7, 9), node(EntryType::fifo, "run/fifo")};
  if (::geteuid() != 0) {
    EXPECT_EQ(apply_layer(root_, layer, ApplyOptions{.preserve_owners = false}).devices_skipped, 2);
    return;
  }
  // A root of its own that nobody can reach (the fixture's parents are 0700).
  char templ[] = "/tmp/gantry-applier-nobody-XXXXXX";
  ASSERT_NE(::mkdtemp(templ), nullptr);
  const fs::path own = templ;
  fs::permissions(own, fs::perms::others_exec, fs::perm_options::add);
  const fs::path root = own / "root";
  fs::create_directory(root);
  ASSERT_EQ(::chown(root.c_str(), 65534, 65534), 0);
  pid_t child = ::fork();
  if (child == 0) {
    int rc = 99;
    if (::setresgid(65534, 65534, 65534) == 0 && ::setresuid(65534, 65534, 65534) == 0) {
      try {
        rc = static_cast<int>(apply_layer(root, layer, ApplyOptions{.preserve_owners = false}).devices_skipped);
      } catch (...) {
      }
    }
    ::_exit(rc);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_FALSE(exists_nofollow(root / "dev/null"));
  EXPECT_TRUE(S_ISFIFO(lstat_of(root / "run/fifo").st_mode));
  fs::remove_all(own);
}

TEST_F(ApplierTest, XattrsIncludingACapabilitySetAfterTheChown) {
  if (::geteuid() != 0) GTEST_SKIP() << "security.capability needs CAP_SETFCAP";
  // vfs_cap_data revision 2, effective, permitted = CAP_NET_BIND_SERVICE.
  const std::string cap("\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  E f = file("ping", "elf", 0755);
  f.entry.uid = 100;
  f.entry.xattrs = {{"security.capability", cap}, {"user.note", std::string("a\0b", 3)},
                    {"trusted.overlay.redirect", "/elsewhere"}};
  E d = dir("d");
  d.entry.xattrs = {{"user.dir", "yes"}};
  E l = symlink("l", "ping");
  l.entry.xattrs = {{"user.ignored", "x"}, {"trusted.linkattr", "t"}};
  const ApplyStats stats = apply_layer(root_, {f, d, l});
  EXPECT_EQ(stats.xattrs_skipped, 2);  // trusted.overlay.redirect, user.ignored
  EXPECT_EQ(xattr_of(root_ / "ping", "security.capability"), cap);
  EXPECT_EQ(xattr_of(root_ / "ping", "user.note"), std::string("a\0b", 3));
  EXPECT_EQ(xattr_of(root_ / "ping", "trusted.overlay.redirect"), std::nullopt) << "overlayfs metadata from an image";
  EXPECT_EQ(xattr_of(root_ / "d", "user.dir"), "yes");
  EXPECT_EQ(xattr_of(root_ / "l", "trusted.linkattr"), "t");
  EXPECT_EQ(xattr_of(root_ / "l", "user.ignored"), std::nullopt);
}

// ---- type changes ----------------------------------------------------------

TEST_F(ApplierTest, TypeFlipsRemoveAndRecreateInBothDirections) {
  apply_layer(root_, {file("f2d", "x"), dir("d2f"), file("d2f/child", "c"), file("f2l", "x"), symlink("l2f", "f2d"),
                      dir("d2l"), file("d2l/child", "c"), symlink("l2d", "d2f"), node(EntryType::fifo, "p2f")});
  apply_layer(root_, {dir("f2d"), file("f2d/new", "n"), file("d2f", "now a file"), symlink("f2l", "elsewhere"),
                      file("l2f", "was a link"), symlink("d2l", "/"), dir("l2d"), file("p2f", "was a fifo")});
  EXPECT_TRUE(fs::is_directory(root_ / "f2d"));
  EXPECT_EQ(slurp(root_ / "f2d/new"), "n");
  EXPECT_EQ(slurp(root_ / "d2f"), "now a file");
  EXPECT_EQ(fs::read_symlink(root_ / "f2l"), "elsewhere");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(root_ / "l2f")));
  EXPECT_EQ(slurp(root_ / "l2f"), "was a link");
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(root_ / "d2l")));
  // The directory replaced the symlink; the symlink's old target is intact.
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(root_ / "l2d")));
  EXPECT_TRUE(names_in(root_ / "l2d").empty());
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(root_ / "p2f")));
}

TEST_F(ApplierTest, TypeFlipWithinOneLayerUsesTheNewParent) {
  // The cached handle of "d" must not outlive its removal.
  apply_layer(root_, {dir("d"), file("d/a", "a"), symlink("d", "e"), dir("e"), file("d/b", "b")});
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(root_ / "d")));
  EXPECT_EQ(slurp(root_ / "e/b"), "b");
  EXPECT_FALSE(exists_nofollow(root_ / "e/a"));
}

// ---- flatten: whiteouts ------------------------------------------------

TEST_F(ApplierTest, WhiteoutRemovesLowerFilesAndDirectories) {
  apply_layer(root_, {file("etc/gone", "g"), dir("var/cache"), file("var/cache/x", "x"), file("etc/stay", "s")});
  const ApplyStats stats =
      apply_layer(root_, {whiteout("etc/.wh.gone"), whiteout("var/.wh.cache"), whiteout("etc/.wh.never-there"),
                          whiteout("missing/dir/.wh.x")});
  EXPECT_FALSE(exists_nofollow(root_ / "etc/gone"));
  EXPECT_FALSE(exists_nofollow(root_ / "var/cache"));
  EXPECT_EQ(names_in(root_ / "etc"), std::vector<std::string>{"stay"});
  EXPECT_FALSE(exists_nofollow(root_ / "missing")) << "a whiteout creates nothing";
  EXPECT_EQ(stats.whiteouts, 4);
}

TEST_F(ApplierTest, OpaqueDirectoryHidesLowerContent) {
  apply_layer(root_, {dir("d"), file("d/a", "a"), dir("d/sub"), file("d/sub/c", "c"), file("other", "o")});
  apply_layer(root_, {dir("d"), whiteout("d/.wh..wh..opq"), file("d/new", "n")});
  EXPECT_EQ(names_in(root_ / "d"), std::vector<std::string>{"new"});
  EXPECT_TRUE(exists_nofollow(root_ / "other"));
}

TEST_F(ApplierTest, OpaqueMarkerAfterItsSiblingsSparesThem) {
  apply_layer(root_, {dir("d"), file("d/lower", "l"), file("d/both", "lower")});
  apply_layer(root_, {dir("d"), file("d/upper", "u"), file("d/both", "upper"), whiteout("d/.wh..wh..opq")});
  EXPECT_EQ(names_in(root_ / "d"), (std::vector<std::string>{"both", "upper"}));
  EXPECT_EQ(slurp(root_ / "d/both"), "upper");
}

TEST_F(ApplierTest, OpaqueInAFreshDirectory) {
  apply_layer(root_, {file("unrelated", "u")});
  apply_layer(root_, {dir("fresh"), file("fresh/x", "x"), whiteout("fresh/.wh..wh..opq"), whiteout("nodir/.wh..wh..opq")});
  EXPECT_EQ(names_in(root_ / "fresh"), std::vector<std::string>{"x"});
  EXPECT_FALSE(exists_nofollow(root_ / "nodir"));
  EXPECT_TRUE(exists_nofollow(root_ / "unrelated"));
}

TEST_F(ApplierTest, NestedOpaqueHidesLowerContentOfKeptDirectories) {
  apply_layer(root_, {dir("d"), dir("d/sub"), file("d/sub/old", "o"), file("d/keep-not", "k"), dir("d/deep/er"),
                      file("d/deep/er/old", "o")});
  // d/sub is this layer's directory merged over the lower one, d/deep/er is
  // an implicit parent of this layer's file: their lower content goes too.
  apply_layer(root_, {dir("d/sub"), file("d/sub/new", "n"), file("d/deep/er/new", "n"), whiteout("d/.wh..wh..opq")});
  EXPECT_EQ(names_in(root_ / "d"), (std::vector<std::string>{"deep", "sub"}));
  EXPECT_EQ(names_in(root_ / "d/sub"), std::vector<std::string>{"new"});
  EXPECT_EQ(names_in(root_ / "d/deep/er"), std::vector<std::string>{"new"});
}

TEST_F(ApplierTest, WhiteoutOfTheLayersOwnNameKeepsIt) {
  apply_layer(root_, {file("before", "lower"), file("after", "lower"), dir("d"), file("d/lower", "l")});
  apply_layer(root_, {whiteout(".wh.before"), file("before", "upper"), file("after", "upper"), whiteout(".wh.after"),
                      dir("d"), file("d/upper", "u"), whiteout(".wh.d")});
  EXPECT_EQ(slurp(root_ / "before"), "upper");
  EXPECT_EQ(slurp(root_ / "after"), "upper");
  EXPECT_EQ(names_in(root_ / "d"), std::vector<std::string>{"upper"});
  for (const auto& name : names_in(root_)) EXPECT_FALSE(name.starts_with(".wh.")) << name;
}

// ---- flatten: an upper layer staged while the one below applies -----------

// Applies `lower`, then `upper`, to `root`; every entry of the upper layer
// comes before the lower one is applied, so it is staged in `staging` and
// applied after.
ApplyStats apply_staged(const fs::path& root, const fs::path& staging, const std::vector<E>& lower,
                        const std::vector<E>& upper) {
  std::promise<void> lower_applied;
  Applier applier(root, ApplyOptions{.lowers_applied = lower_applied.get_future().share(), .staging_dir = staging});
  for (const E& e : upper) {
    FakeData data(e.blocks);
    applier.apply(e.entry, data);
  }
  apply_layer(root, lower);
  lower_applied.set_value();
  applier.finish();
  return applier.stats();
}

// What the order of the layers decides in a tree, as text: every name's
// type, mode, owner, size, content, link target and xattrs, its hardlink
// group (the first name of its inode), and its mtime where an entry set it
// (the fixtures' are before 2023; a directory something was created in
// later has the clock's).
std::string tree_shape(const fs::path& top) {
  std::ostringstream out;
  std::map<ino_t, std::string> first_name;
  std::function<void(const fs::path&)> walk = [&](const fs::path& p) {
    const struct stat st = lstat_of(p);
    const std::string name = p == top ? "." : p.string().substr(top.string().size() + 1);
    out << name << " mode=" << std::oct << st.st_mode << std::dec << " uid=" << st.st_uid << " gid=" << st.st_gid
        << " size=" << (S_ISDIR(st.st_mode) ? 0 : st.st_size) << " mtime=";
    if (st.st_mtim.tv_sec < 1'700'000'000) out << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    else out << "now";
    if (auto [it, fresh] = first_name.try_emplace(st.st_ino, name); !fresh) out << " link-of=" << it->second;
    if (S_ISLNK(st.st_mode)) out << " -> " << fs::read_symlink(p).string();
    if (S_ISREG(st.st_mode)) {
      const std::string data = slurp(p);
      if (data.size() <= 64) out << " data=" << data;
      else out << " data-hash=" << std::hash<std::string>{}(data);
    }
    char names[4096];
    const ssize_t n = ::llistxattr(p.c_str(), names, sizeof names);
    for (ssize_t pos = 0; pos < n; pos += static_cast<ssize_t>(std::strlen(names + pos)) + 1) {
      out << " xattr:" << (names + pos) << "=" << xattr_of(p, names + pos).value_or("?");
    }
    out << '\n';
    if (!S_ISDIR(st.st_mode)) return;
    std::vector<fs::path> children;
    for (const auto& e : fs::directory_iterator(p)) children.push_back(e.path());
    std::sort(children.begin(), children.end());
    for (const auto& c : children) walk(c);
  };
  walk(top);
  return out.str();
}

struct StagedCase {
  std::string name;
  std::vector<E> lower;
  std::vector<E> upper;
};

std::vector<StagedCase> staged_cases() {
  E owned = file("bin/su", "su", 04755);
  owned.entry.uid = 1000;
  owned.entry.gid = 1000;
  E noted = file("etc/noted", "n");
  noted.entry.xattrs = {{"user.note", "staged"}};
  E sparse = file("var/sparse", "");
  sparse.entry.size = 1 << 20;
  sparse.blocks = {{512 << 10, "middle"}, {1 << 20, ""}};
  E nanos = file("etc/nanos", "t");
  nanos.entry.mtime_nsec = 123'456'789;
  return {
      {"files replace files and directories merge",
       {dir("etc"), file("etc/a", "lower a"), file("etc/b", "lower b"), dir("usr")},
       {dir("etc", 0750), file("etc/a", "upper a", 0600), file("usr/new", "n"), file("deep/er/x", "x")}},
      {"types change",
       {dir("d"), file("d/x", "x"), file("f", "f"), symlink("s", "f"), dir("e"), file("e/in", "in")},
       {file("d", "now a file"), dir("f"), file("f/in", "in"), file("s", "was a symlink"), symlink("e", "f")}},
      {"whiteouts and opaque directories",
       {dir("w"), file("w/a", "a"), file("gone", "g"), dir("o"), file("o/old", "o"), file("back", "lower")},
       {whiteout(".wh.gone"), whiteout("w/.wh.a"), file("w/b", "b"), dir("o"), whiteout("o/.wh..wh..opq"),
        file("o/new", "n"), whiteout(".wh.never-there"), whiteout(".wh.back"), file("back", "upper")}},
      {"hardlinks join the lower file's group",
       {file("a", "A"), hardlink("c", "a"), file("x", "X"), file("p", "old"), hardlink("q", "p")},
       {hardlink("b", "a"), file("own", "O"), hardlink("own2", "own"), file("x", "new X"), hardlink("x2", "x"),
        file("p", "new")}},
      {"parents resolve through the lower layer's symlinks",
       {dir("real"), symlink("link", "real"), symlink("abs", "/real")},
       {file("link/f", "through link"), file("abs/g", "through abs"), dir("link/sub"), file("link/sub/h", "h")}},
      {"the root and directory attributes come from the upper layer",
       {dir("./", 0755), dir("locked"), file("locked/l", "l")},
       {dir("./", 0711), dir("locked", 0), file("locked/u", "u"), dir("fresh", 0500), file("fresh/f", "f")}},
      {"owners, setuid, xattrs, holes and nanoseconds are the staged file's",
       {dir("bin"), file("bin/su", "old"), dir("etc"), dir("var")},
       {owned, noted, sparse, nanos, node(EntryType::fifo, "var/fifo")}},
      {"a name given twice in the layer",
       {file("dup", "lower"), dir("dd"), file("dd/x", "x")},
       {file("dup", "first"), file("dup", "second"), file("dd", "a file now"), dir("dup2"), file("dup2", "file")}},
  };
}

TEST_F(ApplierTest, AStagedUpperLayerGivesTheTreeOfTheLayersAppliedInOrder) {
  const fs::path serial = layers_ / "serial";
  const fs::path staging = layers_ / "staging";
  for (const StagedCase& c : staged_cases()) {
    SCOPED_TRACE(c.name);
    fs::remove_all(serial);
    fs::create_directories(serial);
    for (const auto& e : fs::directory_iterator(root_)) fs::remove_all(e.path());
    fs::permissions(root_, fs::perms(0755));  // as the fresh serial root's
    apply_layer(serial, c.lower);
    const ApplyStats in_order = apply_layer(serial, c.upper);

    const ApplyStats staged = apply_staged(root_, staging, c.lower, c.upper);
    EXPECT_EQ(tree_shape(root_), tree_shape(serial));
    EXPECT_TRUE(fs::is_empty(staging)) << "every staged file went into place";
    EXPECT_EQ(staged.entries, in_order.entries);
    EXPECT_EQ(staged.files, in_order.files);
    EXPECT_EQ(staged.bytes, in_order.bytes);
    EXPECT_EQ(staged.whiteouts, in_order.whiteouts);
    fs::remove_all(staging);
  }
}

TEST_F(ApplierTest, AStagedFileIsWrittenBesideTheRootUntilTheLowerLayerIsApplied) {
  const fs::path staging = layers_ / "staging";
  std::promise<void> lower_applied;
  Applier upper(root_, ApplyOptions{.lowers_applied = lower_applied.get_future().share(), .staging_dir = staging});
  for (const E& e : {dir("etc"), file("etc/motd", "upper"), whiteout("etc/.wh.issue")}) {
    FakeData data(e.blocks);
    upper.apply(e.entry, data);
  }
  EXPECT_TRUE(fs::is_empty(root_));
  EXPECT_EQ(names_in(staging).size(), 1u) << "the file's data, not the directory or the whiteout";
  apply_layer(root_, {dir("etc"), file("etc/motd", "lower"), file("etc/issue", "lower")});
  lower_applied.set_value();
  upper.finish();
  EXPECT_EQ(slurp(root_ / "etc/motd"), "upper");
  EXPECT_EQ(names_in(root_ / "etc"), std::vector<std::string>{"motd"});
}

TEST_F(ApplierTest, AStagedEntryFailsWhenApplied) {
  const fs::path staging = layers_ / "staging";
  auto err = error_of([&] { apply_staged(root_, staging, {file("a", "a")}, {hardlink("b", "missing")}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::bad_input);
  EXPECT_EQ(err->context().path, "b");
  fs::remove_all(staging);
}

TEST_F(ApplierTest, TheLowerLayersFailureIsTheStagedLayers) {
  const fs::path staging = layers_ / "staging";
  std::promise<void> lower_applied;
  Applier upper(root_, ApplyOptions{.lowers_applied = lower_applied.get_future().share(), .staging_dir = staging});
  E f = file("f", "upper");
  FakeData data(f.blocks);
  upper.apply(f.entry, data);
  lower_applied.set_exception(std::make_exception_ptr(Error(ErrorKind::digest_mismatch, "lower layer failed")));
  auto err = error_of([&] { upper.finish(); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::digest_mismatch);
  EXPECT_TRUE(fs::is_empty(root_));
  fs::remove_all(staging);
}

TEST_F(ApplierTest, StagingStopsAtItsBoundAndTheLayerWaits) {
  // Headers of 64 KiB each (an xattr Linux does not take on a symlink,
  // kept all the same): past kMaxStagedBytes (16 MiB) the upper layer waits
  // for the lower one instead of keeping more.
  const std::size_t count = kMaxStagedBytes / (64 << 10) + 64;
  std::vector<E> upper;
  for (std::size_t i = 0; i < count; ++i) {
    if (i % 32 == 0) upper.push_back(file("f" + std::to_string(i), std::to_string(i)));
    E link = symlink("l" + std::to_string(i), "t" + std::to_string(i));
    link.entry.xattrs = {{"user.big", std::string(64 << 10, 'x')}};
    upper.push_back(std::move(link));
  }
  const fs::path staging = layers_ / "staging";
  std::promise<void> lower_applied;
  Applier applier(root_, ApplyOptions{.lowers_applied = lower_applied.get_future().share(), .staging_dir = staging});
  std::atomic<std::size_t> applied = 0;
  std::thread upper_thread([&] {
    for (const E& e : upper) {
      FakeData data(e.blocks);
      applier.apply(e.entry, data);
      ++applied;
    }
    applier.finish();
  });
  // Blocked for good until the lower layer is applied: a bound that did not
  // hold would let every entry through meanwhile.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LT(applied.load(), upper.size());
  EXPECT_TRUE(fs::is_empty(root_));
  apply_layer(root_, {file("base", "b")});
  lower_applied.set_value();
  upper_thread.join();

  const fs::path serial = layers_ / "serial";
  fs::create_directories(serial);
  apply_layer(serial, {file("base", "b")});
  apply_layer(serial, upper);
  EXPECT_EQ(tree_shape(root_), tree_shape(serial));
  fs::remove_all(staging);
}

// ---- snapshot mode ---------------------------------------------------------

TEST_F(ApplierTest, SnapshotWhiteoutsTakeOverlayfsForm) {
  const ApplyStats stats = apply_layer(root_, {whiteout("etc/.wh.passwd"), whiteout("var/lib/.wh..wh..opq"),
                                               whiteout(".wh..wh..reserved")},
                                       snapshot_over());
  const struct stat wh = lstat_of(root_ / "etc/passwd");
  EXPECT_TRUE(S_ISCHR(wh.st_mode));
  EXPECT_EQ(wh.st_rdev, makedev(0, 0));
  EXPECT_TRUE(fs::is_directory(root_ / "var/lib"));
  EXPECT_EQ(xattr_of(root_ / "var/lib", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(names_in(root_), (std::vector<std::string>{"etc", "var"}));
  EXPECT_EQ(stats.whiteouts, 2);
}

TEST_F(ApplierTest, SnapshotDirectoryOverAWhiteoutOfTheSameLayerIsOpaque) {
  apply_layer(root_, {whiteout(".wh.d"), dir("d"), file("d/f", "f"), file("e", "e"), whiteout(".wh.e")}, snapshot_over());
  EXPECT_EQ(xattr_of(root_ / "d", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(slurp(root_ / "e"), "e");
}

TEST_F(ApplierTest, SnapshotHardlinkCopiesUpALowerTarget) {
  const fs::path lower = layers_ / "lower";
  E target = file("usr/bin/tool", "lower bytes", 04750);
  target.entry.uid = 42;
  target.entry.xattrs = {{"user.origin", "lower"}};
  E usr = dir("usr", 0751);
  usr.entry.uid = 9;
  apply_layer(lower, {usr, dir("usr/bin"), target}, snapshot_over());
  apply_layer(root_, {hardlink("usr/sbin/tool", "usr/bin/tool")}, snapshot_over({lower}));
  const struct stat copy = lstat_of(root_ / "usr/bin/tool");
  EXPECT_EQ(slurp(root_ / "usr/bin/tool"), "lower bytes");
  EXPECT_EQ(copy.st_mode & 07777, 04750u);
  EXPECT_EQ(copy.st_uid, 42u);
  EXPECT_EQ(copy.st_mtim.tv_sec, 1'600'000'000);
  EXPECT_EQ(xattr_of(root_ / "usr/bin/tool", "user.origin"), "lower");
  EXPECT_EQ(lstat_of(root_ / "usr/sbin/tool").st_ino, copy.st_ino);
  EXPECT_EQ(copy.st_nlink, 2u);
  EXPECT_EQ(lstat_of(lower / "usr/bin/tool").st_nlink, 1u) << "the lower snapshot is read only";
  // The implicit parent stands for the lower directory: same attributes.
  const struct stat usr_copy = lstat_of(root_ / "usr");
  EXPECT_EQ(usr_copy.st_mode & 07777, 0751u);
  EXPECT_EQ(usr_copy.st_uid, 9u);
  EXPECT_EQ(usr_copy.st_mtim.tv_sec, 1'500'000'000);
  EXPECT_TRUE(fs::is_directory(root_ / "usr/sbin"));
}

// Snapshots of an image's layers are built at once: a layer waits for the
// lower ones only when an entry has to look into them.
TEST_F(ApplierTest, SnapshotAwaitsTheLowerSnapshotsOnlyWhenItLooksIntoThem) {
  const fs::path lower = layers_ / "lower";
  int awaited = 0;
  ApplyOptions options = snapshot_over({lower});
  options.await_lowers = [&] {
    ++awaited;
    // The lower snapshot is complete only now.
    apply_layer(lower, {dir("bin"), file("bin/tool", "lower")}, snapshot_over());
  };
  Applier applier(root_, std::move(options));
  auto apply = [&](const E& e) {
    FakeData data(e.blocks);
    applier.apply(e.entry, data);
  };
  apply(dir("etc"));
  apply(file("etc/own", "own"));
  apply(hardlink("etc/own-twin", "etc/own"));  // this layer's own file: no wait
  EXPECT_EQ(awaited, 0);
  apply(hardlink("sbin/tool", "bin/tool"));
  apply(hardlink("sbin/tool2", "bin/tool"));
  applier.finish();
  EXPECT_EQ(awaited, 1);
  EXPECT_EQ(slurp(root_ / "sbin/tool"), "lower");
}

TEST_F(ApplierTest, SnapshotEntryFailsWithTheErrorOfAFailedLowerSnapshot) {
  ApplyOptions options = snapshot_over({layers_ / "lower"});
  options.await_lowers = [] { throw Error(ErrorKind::digest_mismatch, "lower layer diff ID mismatch"); };
  auto err = error_of([&] { apply_layer(root_, {dir("a"), hardlink("a/l", "bin/tool")}, std::move(options)); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::digest_mismatch);
}

TEST_F(ApplierTest, SnapshotHardlinkHonoursWhiteoutsAndOpaqueLowers) {
  const fs::path bottom = layers_ / "lower";
  const fs::path middle = layers_ / "middle";
  fs::create_directory(middle);
  apply_layer(bottom, {file("gone", "g"), dir("d"), file("d/hidden", "h"), file("kept", "k")}, snapshot_over());
  apply_layer(middle, {whiteout(".wh.gone"), dir("d"), whiteout("d/.wh..wh..opq")}, snapshot_over({bottom}));
  for (const char* target : {"gone", "d/hidden"}) {
    auto err = error_of([&] { apply_layer(root_, {hardlink("l", target)}, snapshot_over({middle, bottom})); });
    ASSERT_TRUE(err) << target;
    EXPECT_EQ(err->kind(), ErrorKind::bad_input) << target;
  }
  apply_layer(root_, {hardlink("l", "kept")}, snapshot_over({middle, bottom}));
  EXPECT_EQ(slurp(root_ / "l"), "k");
}

TEST_F(ApplierTest, SnapshotCopyUpKeepsHoles) {
  const fs::path lower = layers_ / "lower";
  E f = file("sparse", "");
  f.entry.size = 4 << 20;
  f.blocks = {{1 << 20, "data"}, {4 << 20, ""}};
  apply_layer(lower, {f}, snapshot_over());
  apply_layer(root_, {hardlink("link", "sparse")}, snapshot_over({lower}));
  const struct stat st = lstat_of(root_ / "sparse");
  EXPECT_EQ(st.st_size, 4 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);
  EXPECT_EQ(slurp(root_ / "link").substr(1 << 20, 4), "data");
}

// ---- security suite ------------------------------------------------------

TEST_F(ApplierTest, TraversalNamesAreConfined) {
  apply_layer(root_, {file("../../x", "1"), file("a/../../y", "2"), file("/etc/z", "3"),
                      file("../../../outside/passwd", "pwned"), file("./../../../outside/new", "pwned"),
                      dir("../../../outside/dir", 0777)});
  EXPECT_EQ(slurp(root_ / "x"), "1");
  EXPECT_EQ(slurp(root_ / "y"), "2");
  EXPECT_EQ(slurp(root_ / "etc/z"), "3");
  EXPECT_EQ(slurp(root_ / "outside/passwd"), "pwned");
  expect_outside_unchanged();
}

TEST_F(ApplierTest, FilesThroughSymlinksToSlashOrDotDotStayInside) {
  apply_layer(root_, {symlink("abs", "/"), symlink("rel", "../../../.."), symlink("to-outside", outside_abs()),
                      symlink("rel-outside", "../../../outside")});
  apply_layer(root_, {file("abs" + outside_abs() + "/passwd", "1"), file("rel/outside/passwd", "2"),
                      file("to-outside/passwd", "3"), file("rel-outside/dir/file", "4"), dir("to-outside/dir", 0777)});
  EXPECT_EQ(slurp(root_ / "outside/passwd"), "2");
  EXPECT_EQ(slurp(root_ / outside_abs().substr(1) / "passwd"), "3");
  EXPECT_EQ(slurp(root_ / "outside/dir/file"), "4");
  expect_outside_unchanged();
}

TEST_F(ApplierTest, ChainedSymlinksStayInside) {
  apply_layer(root_, {symlink("a", "b"), symlink("b", "c/../../.."), dir("c"), symlink("c/up", "../a/../../.."),
                      file("a/outside/passwd", "1"), file("c/up/outside/dir/file", "2")});
  EXPECT_EQ(slurp(root_ / "outside/passwd"), "1");
  EXPECT_EQ(slurp(root_ / "outside/dir/file"), "2");
  expect_outside_unchanged();
}

TEST_F(ApplierTest, EntriesOverSymlinksToOutsideReplaceTheSymlink) {
  apply_layer(root_, {symlink("passwd", "../../../outside/passwd"), symlink("dir", outside_abs() + "/dir")});
  // Same names, other types and attributes: the links go, nothing is written,
  // chmodded, chowned or timed through them.
  E f = file("passwd", "mine", 0777);
  f.entry.uid = 666;
  E d = dir("dir", 0777);
  d.entry.uid = 666;
  apply_layer(root_, {f, d, file("dir/file", "inside")});
  EXPECT_EQ(slurp(root_ / "passwd"), "mine");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(root_ / "dir")));
  expect_outside_unchanged();
}

TEST_F(ApplierTest, CrossLayerSymlinkEscapeStaysInside) {
  apply_layer(root_, {symlink("lib", "../../../outside"), dir("outside"), dir("outside/dir")});
  apply_layer(root_, {file("lib/passwd", "pwned"), symlink("lib/dir/file", "/x"), hardlink("lib/h", "lib/passwd")});
  EXPECT_EQ(slurp(root_ / "outside/passwd"), "pwned");
  EXPECT_EQ(lstat_of(root_ / "outside/h").st_ino, lstat_of(root_ / "outside/passwd").st_ino);
  expect_outside_unchanged();
}

TEST_F(ApplierTest, DanglingSymlinkParentIsRefused) {
  // "lnk" resolves inside the root, to a directory that does not exist.
  E f = file("lnk/x", "x");
  auto err = error_of([&] { apply_layer(root_, {symlink("lnk", "../../../outside/dir"), f}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::bad_input);
  EXPECT_EQ(err->context().path, "lnk/x");
  expect_outside_unchanged();
}

TEST_F(ApplierTest, SymlinkNamedDotOrTheRootIsRefused) {
  for (const char* name : {".", "./", "/", "", "a/..", "../.."}) {
    E bad = symlink(name, "../../../outside");
    auto err = error_of([&] { apply_layer(root_, {bad, file("through/passwd", "x")}); });
    ASSERT_TRUE(err) << name;
    EXPECT_EQ(err->kind(), ErrorKind::unsafe_path) << name;
    EXPECT_EQ(err->context().path, name);
    EXPECT_TRUE(fs::is_directory(fs::symlink_status(root_)));
  }
  auto err = error_of([&] { apply_layer(root_, {file(".", "x")}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::unsafe_path);
  expect_outside_unchanged();
}

TEST_F(ApplierTest, HardlinkTargetsCannotLeaveTheRoot) {
  for (const std::string& target : {std::string("../../../outside/passwd"), std::string("/../outside/passwd"),
                                     outside_abs() + "/passwd"}) {
    auto err = error_of([&] { apply_layer(root_, {hardlink("h", target)}); });
    ASSERT_TRUE(err) << target;
    EXPECT_EQ(err->kind(), ErrorKind::bad_input) << target << ": no such file inside the root";
  }
  // With a file of that name inside the root, the link goes to it.
  apply_layer(root_, {file("outside/passwd", "inner"), hardlink("h", "../../../outside/passwd")});
  EXPECT_EQ(lstat_of(root_ / "h").st_ino, lstat_of(root_ / "outside/passwd").st_ino);
  EXPECT_EQ(lstat_of(outside_ / "passwd").st_nlink, 1u);
  expect_outside_unchanged();
}

TEST_F(ApplierTest, HardlinkThroughASymlinkStaysInside) {
  // A symlink created, then a hardlink whose target goes through it, and one
  // whose own name does.
  apply_layer(root_, {symlink("lnk", "../../../outside"), symlink("abs", outside_abs())});
  for (const char* target : {"lnk/passwd", "abs/passwd"}) {
    auto err = error_of([&] { apply_layer(root_, {hardlink("h", target)}); });
    ASSERT_TRUE(err) << target;
    EXPECT_EQ(err->kind(), ErrorKind::bad_input) << target;
  }
  apply_layer(root_, {dir("outside"), file("f", "inner"), hardlink("lnk/h", "f"), symlink("s", "../../../outside/passwd"),
                      hardlink("hs", "s")});
  EXPECT_EQ(lstat_of(root_ / "outside/h").st_ino, lstat_of(root_ / "f").st_ino);
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(root_ / "hs"))) << "the symlink itself is linked";
  EXPECT_EQ(lstat_of(outside_ / "passwd").st_nlink, 1u);
  expect_outside_unchanged();
}

TEST_F(ApplierTest, WhiteoutNamesThatClimbAreRefused) {
  apply_layer(root_, {dir("sub"), file("sub/f", "f")});
  for (const char* name : {".wh..", ".wh...", "sub/.wh..", "sub/.wh...", ".wh."}) {
    auto err = error_of([&] { apply_layer(root_, {whiteout(name)}); });
    ASSERT_TRUE(err) << name;
    EXPECT_EQ(err->kind(), ErrorKind::unsafe_path) << name;
  }
  EXPECT_EQ(slurp(root_ / "sub/f"), "f");
  // Climbing names are cleaned: this deletes inside the root only.
  apply_layer(root_, {dir("outside"), dir("outside/dir")});
  apply_layer(root_, {whiteout("../../../outside/.wh.dir")});
  EXPECT_EQ(names_in(root_ / "outside"), std::vector<std::string>{});
  apply_layer(root_, {whiteout("../../../.wh.outside")});
  EXPECT_FALSE(exists_nofollow(root_ / "outside"));
  expect_outside_unchanged();
}

TEST_F(ApplierTest, WhiteoutsBelowSymlinksToOutsideStayInside) {
  apply_layer(root_, {symlink("rel", "../../../outside"), symlink("abs", outside_abs()), file("outside/passwd", "in")});
  apply_layer(root_, {whiteout("rel/.wh.passwd"), whiteout("abs/.wh.dir"), whiteout("rel/dir/.wh.file"),
                      whiteout("rel/.wh..wh..opq"), whiteout("abs/.wh..wh..opq")});
  EXPECT_FALSE(exists_nofollow(root_ / "outside/passwd"));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(root_ / "rel")));
  expect_outside_unchanged();
}

TEST_F(ApplierTest, SnapshotWhiteoutsBelowSymlinksStayInside) {
  apply_layer(root_, {symlink("rel", "../../../outside"), dir("outside"), whiteout("rel/.wh.passwd"),
                      whiteout("rel/dir/.wh..wh..opq")},
              snapshot_over());
  EXPECT_TRUE(S_ISCHR(lstat_of(root_ / "outside/passwd").st_mode));
  EXPECT_EQ(xattr_of(root_ / "outside/dir", "trusted.overlay.opaque"), "y");
  expect_outside_unchanged();
}

TEST_F(ApplierTest, SnapshotCopyUpIsConfinedToTheLowerSnapshot) {
  const fs::path lower = layers_ / "lower";
  apply_layer(lower, {symlink("lnk", "../../outside"), file("outside/passwd", "lower's")}, snapshot_over());
  apply_layer(root_, {hardlink("h", "lnk/passwd")}, snapshot_over({lower}));
  EXPECT_EQ(slurp(root_ / "h"), "lower's");
  EXPECT_EQ(lstat_of(outside_ / "passwd").st_nlink, 1u);
  expect_outside_unchanged();
}

}  // namespace
}  // namespace gantry::unpack
