// engine/detail/ustar_header: headers libarchive reads back as written,
// including a size past ustar's octal range.
#include "engine/detail/ustar_header.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace gantry::engine::detail {
namespace {

struct Read {
  std::string name;
  std::int64_t size = 0;
  mode_t type = 0;
  mode_t permissions = 0;
};

// The first entry of `bytes` as libarchive (strict tar only) sees it.
Read first_entry(const std::string& bytes) {
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK);
  archive_entry* entry = nullptr;
  EXPECT_EQ(archive_read_next_header(a, &entry), ARCHIVE_OK) << archive_error_string(a);
  Read read{archive_entry_pathname(entry), archive_entry_size(entry), archive_entry_filetype(entry),
            archive_entry_perm(entry)};
  archive_read_free(a);
  return read;
}

std::string block(const std::array<char, kTarBlock>& header) { return std::string(header.data(), header.size()); }

TEST(UstarHeader, AFileReadsBackWithItsNameSizeModeAndContent) {
  const std::string data = "hello";
  std::string archive = block(ustar_header("blobs/sha256/abc", '0', static_cast<std::int64_t>(data.size()), 0644));
  archive += data + std::string(kTarBlock - data.size(), '\0') + std::string(2 * kTarBlock, '\0');
  const Read read = first_entry(archive);
  EXPECT_EQ(read.name, "blobs/sha256/abc");
  EXPECT_EQ(read.size, 5);
  EXPECT_EQ(read.type, AE_IFREG);
  EXPECT_EQ(read.permissions, 0644u);
}

TEST(UstarHeader, ADirectory) {
  const Read read = first_entry(block(ustar_header("blobs/", '5', 0, 0755)) + std::string(2 * kTarBlock, '\0'));
  EXPECT_EQ(read.type, AE_IFDIR);
  EXPECT_EQ(read.permissions, 0755u);
}

TEST(UstarHeader, TheLargestOctalSizeStaysOctal) {
  constexpr std::int64_t kLargest = (std::int64_t{1} << 33) - 1;
  const auto header = ustar_header("big", '0', kLargest, 0644);
  EXPECT_EQ(std::string(header.data() + 124, 12), std::string("77777777777") + '\0');
  EXPECT_EQ(first_entry(block(header)).size, kLargest);
}

TEST(UstarHeader, ASizePastEightGiBIsBase256) {
  constexpr std::int64_t kSize = (std::int64_t{1} << 33) + 5;
  const auto header = ustar_header("big", '0', kSize, 0644);
  EXPECT_EQ(static_cast<unsigned char>(header[124]), 0x80);
  EXPECT_EQ(first_entry(block(header)).size, kSize);
}

TEST(UstarHeader, ANameOfAHundredBytesIsRefused) {
  EXPECT_THROW((void)ustar_header(std::string(100, 'a'), '0', 0, 0644), std::logic_error);
}

}  // namespace
}  // namespace gantry::engine::detail
