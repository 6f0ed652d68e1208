#include "registry/detail/content_range.hpp"

#include <gtest/gtest.h>

namespace gantry::registry::detail {
namespace {

TEST(ContentRange, KnownAndUnknownLength) {
  EXPECT_EQ(parse_content_range("bytes 100-199/200"), (ContentRange{100, 199, 200}));
  EXPECT_EQ(parse_content_range("bytes 0-0/1"), (ContentRange{0, 0, 1}));
  EXPECT_EQ(parse_content_range("bytes 5-9/*"), (ContentRange{5, 9, std::nullopt}));
  EXPECT_EQ(parse_content_range("bytes 1048576-4294967295/4294967296"),
            (ContentRange{1048576, 4294967295LL, 4294967296LL}));
}

TEST(ContentRange, RejectsWhatCannotBeAppended) {
  for (const char* bad : {"", "bytes", "bytes */200", "items 0-1/2", "bytes 10-5/20", "bytes 0-200/200",
                          "bytes -1-5/10", "bytes 0-5/", "bytes 0-5/10x", "bytes  0-5/10", "bytes 0 - 5/10",
                          "bytes 99999999999999999999-1/2"}) {
    EXPECT_FALSE(parse_content_range(bad)) << bad;
  }
}

}  // namespace
}  // namespace gantry::registry::detail
