#include "tools/gantry/env_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"

namespace gantry::tools {
namespace {

using Lines = std::vector<std::string>;

class EnvFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::filesystem::temp_directory_path() / ("gantry-env-file-" + std::to_string(::getpid()));
  }
  void TearDown() override { std::filesystem::remove(file_); }

  Lines read(const std::string& text) {
    gantry::testing::spit(file_, text);
    return read_env_file(file_);
  }
  std::filesystem::path file_;
};

TEST_F(EnvFileTest, DockersFormatVerbatim) {
  EXPECT_EQ(read("\xef\xbb\xbf"
                 "A=1\n"
                 "# a comment\n"
                 "\n"
                 "   \t\n"
                 "  B=two words  \n"
                 "QUOTED=\"kept\"\n"
                 "FROM_CALLER\n"
                 "EMPTY=\n"
                 "EQ=a=b\n"
                 "CRLF=dos\r\n"
                 "LAST=no newline"),
            (Lines{"A=1", "B=two words  ", "QUOTED=\"kept\"", "FROM_CALLER", "EMPTY=", "EQ=a=b", "CRLF=dos",
                   "LAST=no newline"}));
}

TEST_F(EnvFileTest, BadLinesAreErrorsNamingTheLine) {
  for (const auto& [text, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"A=1\nBAD NAME=x\n", "line 2: variable 'BAD NAME' contains whitespace"},
           {"=value\n", "line 1: no variable name"},
           {"A=\xff\xfe\n", "line 1: bytes that are not UTF-8"},
       }) {
    auto err = gantry::testing::error_of([&] { (void)read(text); });
    ASSERT_TRUE(err) << text;
    EXPECT_EQ(err->kind(), core::ErrorKind::bad_input);
    EXPECT_NE(std::string(err->what()).find(fragment), std::string::npos) << err->what();
    EXPECT_EQ(err->context().path, file_.string());
  }
}

TEST_F(EnvFileTest, AMissingFileIsAnIoError) {
  auto err = gantry::testing::error_of([&] { (void)read_env_file(file_.string() + "-absent"); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), core::ErrorKind::io);
}

}  // namespace
}  // namespace gantry::tools
