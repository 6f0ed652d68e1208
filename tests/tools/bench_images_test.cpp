#include "tools/gantry/bench/bench_images.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <tuple>

#include "core/error.hpp"
#include "tools/gantry/bench/readiness.hpp"

namespace gantry::tools::bench {
namespace {

using Words = std::vector<std::string>;

TEST(SplitWords, SplitsAndQuotesAsAShellDoes) {
  EXPECT_EQ(split_words("  a b\tc  "), (Words{"a", "b", "c"}));
  EXPECT_EQ(split_words(R"(--ready 'line=^a b$' x -- sh -c "echo \"hi\" \\ \$x")"),
            (Words{"--ready", "line=^a b$", "x", "--", "sh", "-c", R"(echo "hi" \ $x)"}));
  EXPECT_EQ(split_words(R"(a\ b 'it''s' ""x)"), (Words{"a b", "its", "x"}));
  EXPECT_EQ(split_words("''"), (Words{""}));
  EXPECT_EQ(split_words(""), Words{});
}

TEST(SplitWords, ExpandsVariablesOutsideSingleQuotes) {
  ::setenv("GANTRY_TEST_HOST", "127.0.0.1:5000", 1);
  EXPECT_EQ(split_words("${GANTRY_TEST_HOST}/suite/x \"${GANTRY_TEST_HOST}\" '${GANTRY_TEST_HOST}'"),
            (Words{"127.0.0.1:5000/suite/x", "127.0.0.1:5000", "${GANTRY_TEST_HOST}"}));
  EXPECT_EQ(split_words("$HOME"), (Words{"$HOME"}));  // only ${NAME} is expanded
}

TEST(SplitWords, RefusesWhatAShellWouldNotFinish) {
  ::unsetenv("GANTRY_TEST_UNSET");
  for (const char* line : {"'open", "\"open", "end\\", "${GANTRY_TEST_UNSET}", "${OPEN", "${}", "${A-B}"}) {
    EXPECT_THROW((void)split_words(line), core::Error) << line;
  }
}

TEST(Readiness, ParsesEveryKind) {
  EXPECT_EQ(parse_readiness("exit").kind, Readiness::Kind::exit);
  const Readiness line = parse_readiness("line=^ready( now)?$");
  EXPECT_EQ(line.kind, Readiness::Kind::line);
  EXPECT_TRUE(std::regex_search("ready now", line.line));
  const Readiness port = parse_readiness("port=8080");
  EXPECT_EQ(port.kind, Readiness::Kind::port);
  EXPECT_EQ(port.host, "127.0.0.1");
  EXPECT_EQ(port.port, 8080);
  EXPECT_FALSE(port.line.mark_count() > 0);
}

TEST(Readiness, ParsesUrls) {
  const Readiness a = parse_readiness("http=http://127.0.0.1:8080/index.html");
  EXPECT_EQ(a.kind, Readiness::Kind::http);
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  EXPECT_EQ(a.path, "/index.html");
  const Readiness b = parse_readiness("http=http://localhost");
  EXPECT_EQ(std::tie(b.host, b.port, b.path), std::make_tuple(std::string("localhost"), 80, std::string("/")));
  const Readiness c = parse_readiness("http=http://[::1]:81/x?y=1");
  EXPECT_EQ(std::tie(c.host, c.port, c.path), std::make_tuple(std::string("::1"), 81, std::string("/x?y=1")));
}

TEST(Readiness, RefusesMalformedSpecs) {
  for (const char* spec : {"", "exit=1", "line=", "line=(", "port=0", "port=65536", "port=80x", "tcp=80",
                           "http=https://x/", "http=http://", "http=http://[::1/", "http=http://h/a b",
                           "http=http://h/a\r\nX: y", "http=http://h:0/"}) {
    EXPECT_THROW((void)parse_readiness(spec), core::Error) << spec;
  }
}

TEST(Readiness, AClosedPortDoesNotAnswer) {
  // Port 1 on loopback: nothing listens there on a test machine.
  EXPECT_FALSE(answers(parse_readiness("port=1")));
  EXPECT_FALSE(answers(parse_readiness("http=http://127.0.0.1:1/")));
}

}  // namespace
}  // namespace gantry::tools::bench
