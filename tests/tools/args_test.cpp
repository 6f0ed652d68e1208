#include "tools/gantry/args.hpp"

#include <gtest/gtest.h>

#include <array>

#include "core/error.hpp"

namespace gantry::tools {
namespace {

constexpr std::array kSpecs = {
    OptionSpec{.name = "store", .value_name = "DIR", .help = "store"},
    OptionSpec{.name = "mirror", .value_name = "HOST", .help = "mirror", .repeatable = true},
    OptionSpec{.name = "quiet", .value_name = "", .help = "quiet", .short_name = 'q'},
};

ParsedArgs parse(std::vector<std::string> args) { return parse_args("test", kSpecs, args); }

TEST(Args, ValuesFlagsAndPositionals) {
  auto p = parse({"--store", "/s", "ref1", "-q", "--mirror=a", "ref2", "--mirror", "b"});
  EXPECT_EQ(p.value("store"), "/s");
  EXPECT_TRUE(p.flag("quiet"));
  EXPECT_FALSE(p.flag("absent"));
  EXPECT_EQ(p.values("mirror"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.positionals(), (std::vector<std::string>{"ref1", "ref2"}));
  EXPECT_FALSE(p.has_rest_separator());
}

TEST(Args, EverythingAfterDoubleDashIsRest) {
  auto p = parse({"img", "--", "sh", "-c", "--store x"});
  EXPECT_EQ(p.positionals(), std::vector<std::string>{"img"});
  EXPECT_TRUE(p.has_rest_separator());
  EXPECT_EQ(p.rest(), (std::vector<std::string>{"sh", "-c", "--store x"}));
  EXPECT_FALSE(p.value("store").has_value());
}

TEST(Args, EmptyRestAfterSeparator) {
  auto p = parse({"img", "--"});
  EXPECT_TRUE(p.has_rest_separator());
  EXPECT_TRUE(p.rest().empty());
}

void expect_usage_error(std::vector<std::string> args, const std::string& fragment) {
  try {
    (void)parse(std::move(args));
    FAIL() << "expected an error mentioning " << fragment;
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Args, Errors) {
  expect_usage_error({"--nope"}, "unknown option --nope");
  expect_usage_error({"-x"}, "unknown option -x");
  expect_usage_error({"--store"}, "--store needs a value DIR");
  expect_usage_error({"--store", "a", "--store", "b"}, "--store given twice");
  expect_usage_error({"--quiet=yes"}, "--quiet takes no value");
}

TEST(Args, HelpTextListsEveryOption) {
  std::string help = format_options(kSpecs);
  EXPECT_NE(help.find("--store DIR"), std::string::npos);
  EXPECT_NE(help.find("-q, --quiet"), std::string::npos);
  EXPECT_NE(help.find("(repeatable)"), std::string::npos);
}

}  // namespace
}  // namespace gantry::tools
