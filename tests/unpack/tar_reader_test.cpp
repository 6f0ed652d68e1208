#include "unpack/tar_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"
#include "tar_fixture.hpp"

namespace gantry::unpack {
namespace {

using testing::FileSpec;
using testing::make_tar;

// Hands out a string in pieces of `step` bytes.
class StringSource final : public ByteSource {
 public:
  StringSource(std::string data, std::size_t step) : data_(std::move(data)), step_(step) {}
  std::span<const std::byte> read() override {
    std::size_t n = std::min(step_, data_.size() - pos_);
    auto out = std::as_bytes(std::span(data_.data() + pos_, n));
    pos_ += n;
    return out;
  }

 private:
  std::string data_;
  std::size_t step_;
  std::size_t pos_ = 0;
};

// Like StringSource, but every piece is copied into one buffer the next
// read overwrites, as the pipeline recycles its chunks: a span is only valid
// until the next read.
class RecyclingSource final : public ByteSource {
 public:
  RecyclingSource(std::string data, std::size_t step) : data_(std::move(data)), step_(step), buffer_(step) {}
  std::span<const std::byte> read() override {
    std::fill(buffer_.begin(), buffer_.end(), '\xff');
    const std::size_t n = std::min(step_, data_.size() - pos_);
    std::copy_n(data_.data() + pos_, n, buffer_.data());
    pos_ += n;
    return std::as_bytes(std::span(buffer_.data(), n));
  }

 private:
  std::string data_;
  std::size_t step_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0;
};

struct Seen {
  TarEntry entry;
  std::string data;
};

std::vector<Seen> read_all(ByteSource& source) {
  std::vector<Seen> seen;
  read_tar(
      source,
      [&](const TarEntry& entry, EntryData& data) {
        Seen s{entry, {}};
        std::int64_t offset = 0;
        std::span<const std::byte> bytes;
        while (data.next(offset, bytes)) {
          s.data.resize(static_cast<std::size_t>(offset));
          s.data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        }
        seen.push_back(std::move(s));
      },
      "sha256:layer");
  return seen;
}

TEST(TarReader, EntriesWithTheirTypesDataAndXattrs) {
  std::string tar = make_tar({
      {.path = "etc/", .content = "", .type = AE_IFDIR},
      {.path = "etc/motd", .content = "hello", .xattrs = {{"user.k", std::string("v\0w", 3)}}},
      {.path = "etc/link", .content = "", .type = AE_IFLNK, .link = "motd"},
      {.path = "etc/hard", .content = "", .type = AE_IFREG, .link = "etc/motd", .hardlink = true},
      {.path = "caf\xc3\xa9/\xe9t\xe9", .content = "names stay bytes"},
  });
  for (std::size_t step : {std::size_t{1} << 20, std::size_t{7}}) {
    StringSource source(tar, step);
    auto seen = read_all(source);
    ASSERT_EQ(seen.size(), 5u);
    EXPECT_EQ(seen[0].entry.type, EntryType::directory);
    EXPECT_EQ(seen[1].entry.path, "etc/motd");
    EXPECT_EQ(seen[1].data, "hello");
    EXPECT_EQ(seen[1].entry.size, 5);
    EXPECT_EQ(seen[1].entry.mode, 0644u);
    EXPECT_EQ(seen[1].entry.mtime_sec, 1700000000);
    ASSERT_EQ(seen[1].entry.xattrs.size(), 1u);
    EXPECT_EQ(seen[1].entry.xattrs[0].name, "user.k");
    EXPECT_EQ(seen[1].entry.xattrs[0].value, std::string("v\0w", 3));
    EXPECT_EQ(seen[2].entry.type, EntryType::symlink);
    EXPECT_EQ(seen[2].entry.link_target, "motd");
    EXPECT_EQ(seen[3].entry.type, EntryType::hardlink);
    EXPECT_EQ(seen[3].entry.link_target, "etc/motd");
    EXPECT_EQ(seen[4].entry.path, "caf\xc3\xa9/\xe9t\xe9");  // UTF-8 and Latin-1 bytes as written
    EXPECT_EQ(seen[4].data, "names stay bytes");
  }
}

// libarchive folds a pax access ACL's user::/group::/other:: entries into
// the mode; the header's own mode is what an entry gets (GNU tar, Go's
// archive/tar), the ACL is ignored (containerd, umoci).
TEST(TarReader, TheHeadersModeStandsAgainstAPaxAcl) {
  const std::string tar =
      testing::raw_pax_file("narrow", 0640, {{"SCHILY.acl.access", "user::rwx,group::rw-,other::rwx"}}, "x") +
      testing::raw_pax_file("private", 0700,
                            {{"SCHILY.acl.access", "user::rwx,user:1000:rwx,group::rwx,mask::rwx,other::rwx"},
                             {"SCHILY.acl.default", "user::rwx,group::rwx,other::rwx"}},
                            std::string(1000, 'y')) +
      testing::raw_pax_file("setuid", 04750, {{"SCHILY.acl.access", "user::rwx,group::rwx,other::rwx"}}, "") +
      testing::tar_end();
  // Steps that make the headers straddle the source's chunks every way.
  for (std::size_t step : {std::size_t{1} << 20, std::size_t{511}, std::size_t{7}, std::size_t{1}}) {
    RecyclingSource source(tar, step);
    auto seen = read_all(source);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].entry.mode, 0640u) << "step " << step;
    EXPECT_EQ(seen[0].data, "x");
    EXPECT_EQ(seen[1].entry.mode, 0700u) << "step " << step;
    EXPECT_EQ(seen[1].data, std::string(1000, 'y'));
    EXPECT_EQ(seen[2].entry.mode, 04750u) << "step " << step;
  }
}

TEST(TarReader, TruncatedTarIsBadInput) {
  std::string tar = make_tar({{.path = "big", .content = std::string(10000, 'x')}});
  StringSource source(tar.substr(0, 2048), 512);
  try {
    (void)read_all(source);
    FAIL() << "a tar cut inside a file's data must fail";
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::bad_input);
    EXPECT_EQ(e.context().digest, "sha256:layer");
  }
}

TEST(TarReader, GarbageIsBadInput) {
  StringSource source(std::string(4096, '\x42'), 4096);
  EXPECT_THROW((void)read_all(source), core::Error);
}

TEST(TarReader, TheSourcesErrorIsRethrownNotLibarchives) {
  class Failing final : public ByteSource {
   public:
    std::span<const std::byte> read() override { throw std::runtime_error("network went away"); }
  } source;
  EXPECT_THROW((void)read_all(source), std::runtime_error);
}

TEST(TarReader, TheHandlersErrorPassesThrough) {
  std::string tar = make_tar({{.path = "a", .content = "x"}});
  StringSource source(tar, 1 << 20);
  EXPECT_THROW(read_tar(
                   source, [](const TarEntry&, EntryData&) { throw std::logic_error("refused"); }, "l"),
               std::logic_error);
}

}  // namespace
}  // namespace gantry::unpack
