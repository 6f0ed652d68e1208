#include "core/utf8.hpp"

#include <gtest/gtest.h>

namespace gantry::core {
namespace {

TEST(Utf8, SequencesAndTheirLengths) {
  EXPECT_EQ(utf8_sequence_length("a"), 1u);
  EXPECT_EQ(utf8_sequence_length("\xc3\xa9"), 2u);          // é
  EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac"), 3u);      // €
  EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80"), 4u);  // 😀
  EXPECT_EQ(utf8_sequence_length(""), 0u);
  EXPECT_EQ(utf8_sequence_length("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(utf8_sequence_length("\xe0\x80\xaf"), 0u);      // overlong
  EXPECT_EQ(utf8_sequence_length("\xed\xa0\x80"), 0u);      // a surrogate
  EXPECT_EQ(utf8_sequence_length("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\xe2\x82"), 0u);          // cut short
  EXPECT_EQ(utf8_sequence_length("\x80"), 0u);              // a continuation byte
}

TEST(Utf8, WholeTexts) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("plain ascii, caf\xc3\xa9, \xe2\x82\xac"));
  EXPECT_FALSE(is_utf8("caf\xc3"));
  EXPECT_FALSE(is_utf8("a\xffz"));
}

}  // namespace
}  // namespace gantry::core
