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
    OptionSpec{.name = "interactive", .value_name = "", .help = "stdin", .short_name = 'i'},
    OptionSpec{.name = "tty", .value_name = "", .help = "terminal", .short_name = 't'},
    OptionSpec{.name = "env", .value_name = "K=V", .help = "env", .repeatable = true, .short_name = 'e'},
};

ParsedArgs parse(std::vector<std::string> args) { return parse_args("test", kSpecs, args); }

// As `docker run` parses: options end at the first operand.
ParsedArgs parse_run(std::vector<std::string> args) {
  return parse_args("run", kSpecs, args, Operands::first_ends_options);
}

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

TEST(Args, ShortOptionsCombineAndTakeTheirValueInEveryForm) {
  auto p = parse({"-it", "-e", "A=1", "-e=B=2", "-eC=3", "-qe", "D=4", "img"});
  EXPECT_TRUE(p.flag("interactive"));
  EXPECT_TRUE(p.flag("tty"));
  EXPECT_TRUE(p.flag("quiet"));
  EXPECT_EQ(p.values("env"), (std::vector<std::string>{"A=1", "B=2", "C=3", "D=4"}));
  EXPECT_EQ(p.positionals(), std::vector<std::string>{"img"});
  expect_usage_error({"-ix"}, "unknown option -x");
  expect_usage_error({"-ie"}, "--env needs a value");
  expect_usage_error({"-ii"}, "--interactive given twice");
}

TEST(Args, RunOptionsEndAtTheImageAndTheRestIsTheCommand) {
  auto p = parse_run({"-it", "--store", "/s", "img", "ls", "-l", "--store", "x", "--", "-q"});
  EXPECT_TRUE(p.flag("tty"));
  EXPECT_EQ(p.value("store"), "/s");
  EXPECT_EQ(p.positionals(), std::vector<std::string>{"img"});
  EXPECT_EQ(p.rest(), (std::vector<std::string>{"ls", "-l", "--store", "x", "--", "-q"}));
  EXPECT_FALSE(p.flag("quiet"));
  // A `--` right after the image, or before it, is the old grammar's and still taken.
  EXPECT_EQ(parse_run({"img", "--", "echo", "hi"}).rest(), (std::vector<std::string>{"echo", "hi"}));
  auto before = parse_run({"-q", "--", "img", "echo"});
  EXPECT_EQ(before.positionals(), std::vector<std::string>{"img"});
  EXPECT_EQ(before.rest(), std::vector<std::string>{"echo"});
  // No command: the image's own.
  auto bare = parse_run({"img"});
  EXPECT_TRUE(bare.rest().empty());
  // --help after the image is the command's, before it gantry's.
  EXPECT_FALSE(parse_run({"img", "sh", "--help"}).help());
  EXPECT_TRUE(parse_run({"-i", "--help", "img"}).help());
  EXPECT_TRUE(parse({"img", "--help"}).help());
}

TEST(Args, HelpTextListsEveryOption) {
  std::string help = format_options(kSpecs);
  EXPECT_NE(help.find("--store DIR"), std::string::npos);
  EXPECT_NE(help.find("-q, --quiet"), std::string::npos);
  EXPECT_NE(help.find("(repeatable)"), std::string::npos);
}

}  // namespace
}  // namespace gantry::tools
