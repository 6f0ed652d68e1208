#include "tools/gantry/bench/waterfall_svg.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace gantry::tools::bench {
namespace {

std::string digest(int i) {
  std::string hex = std::to_string(100000 + i);
  hex.resize(64, 'a');
  return "sha256:" + hex;
}

RunRecord cold_run(int layers) {
  RunRecord run{.tool = "gantry", .ready = 1.25};
  const double ends[] = {0.01, 0.05, 1.1, 1.15, 1.2, 1.25};
  const char* names[] = {"startup", "resolve", "layers", "mount", "exec", "ready"};
  double start = 0;
  for (int i = 0; i < 6; ++i) {
    run.phases.push_back({.name = names[i], .start = start, .end = ends[i]});
    start = ends[i];
  }
  run.marks = {{"resolve", 0.05}, {"auth", 0.02}, {"manifest", 0.03}, {"config", 0.04}};
  for (int i = 0; i < layers; ++i) {
    run.layers.push_back({.digest = digest(i), .size = (i + 1) << 20, .queued = 0.05, .first_byte = 0.06,
                          .last_byte = 0.5, .verified = 0.51, .decoded = 0.6, .applied = 0.9, .committed = 1.0});
  }
  run.usage = Usage{.user_seconds = 0.5, .sys_seconds = 0.25, .max_rss_bytes = 40 << 20};
  run.bytes_fetched = 12 << 20;
  return run;
}

// Well-formed enough for any XML reader: every element closed in order,
// attribute values quoted, no bare '&' or '<' in text.
void expect_well_formed(const std::string& svg) {
  std::vector<std::string> open;
  const std::regex tag(R"(<(/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*)\s*(/?)>)");
  std::size_t at = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tag); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const std::string text = svg.substr(at, static_cast<std::size_t>(m.position()) - at);
    EXPECT_EQ(text.find('<'), std::string::npos) << "a tag the checker cannot read near: " << text.substr(0, 80);
    EXPECT_TRUE(std::regex_match(text, std::regex(R"(([^&]|&(amp|lt|gt|quot|#39);)*)"))) << text;
    at = static_cast<std::size_t>(m.position() + m.length());
    if (m[1] == "/") {
      ASSERT_FALSE(open.empty()) << m[0];
      EXPECT_EQ(open.back(), m[2]) << m[0];
      open.pop_back();
    } else if (m[4] != "/") {
      open.push_back(m[2]);
    }
  }
  EXPECT_TRUE(open.empty());
  EXPECT_EQ(svg.rfind("</svg>"), svg.size() - 7);
}

TEST(WaterfallSvg, NamesEveryLayerPhaseAndTheReadyTime) {
  const std::string svg = waterfall_svg({.image = "127.0.0.1:5000/suite/python:latest", .subtitle = "gantry, cold"},
                                        cold_run(4));
  expect_well_formed(svg);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  for (int i = 0; i < 4; ++i) EXPECT_NE(svg.find(digest(i).substr(0, 7 + 12)), std::string::npos) << i;
  for (const char* text : {">mount<", ">exec<", ">ready<", "ready 1.250 s", "4.0 MiB", "auth 20 ms", "1.2 s",
                           "peak RSS 40.0 MiB", "127.0.0.1:5000/suite/python:latest"}) {
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  }
}

TEST(WaterfallSvg, EscapesWhatTheImageNames) {
  RunRecord run = cold_run(1);
  run.phases.back().name = "<b>&\"'";
  const std::string svg = waterfall_svg({.image = "<script>alert(1)</script>&", .subtitle = "a\"b'c\x01"}, run);
  expect_well_formed(svg);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;&amp;"), std::string::npos);
  EXPECT_NE(svg.find("a&quot;b&#39;c?"), std::string::npos);
  EXPECT_NE(svg.find("&lt;b&gt;&amp;&quot;&#39;"), std::string::npos);
}

TEST(WaterfallSvg, WhatXmlCannotHoldBecomesAQuestionMark) {
  RunRecord run = cold_run(1);
  // A digest cut to its first 19 bytes inside a two-byte character.
  run.layers[0].digest = "sha256:0123456789a\xc3\xa9";
  const std::string svg = waterfall_svg({.image = "bad\xff\xfe name \xc3\xa9t\xc3\xa9", .subtitle = "\xed\xa0\x80"}, run);
  expect_well_formed(svg);
  EXPECT_NE(svg.find("bad?? name \xc3\xa9t\xc3\xa9"), std::string::npos);  // valid UTF-8 stays
  EXPECT_NE(svg.find("sha256:0123456789a?"), std::string::npos);
  EXPECT_NE(svg.find(">\?\?\?</text>"), std::string::npos);  // a surrogate is no character
}

TEST(WaterfallSvg, ATimeThatIsNotFiniteDoesNotStretchTheAxis) {
  RunRecord run = cold_run(1);
  run.layers[0].committed = std::numeric_limits<double>::infinity();
  const std::string svg = waterfall_svg({.image = "x", .subtitle = "y"}, run);
  expect_well_formed(svg);
  EXPECT_NE(svg.find(">1.4 s<"), std::string::npos);  // the axis of the finite times: 0 to 1.4 s
}

TEST(WaterfallSvg, ManyLayersAreBoundedAndSaySoAndStoredOnesSayInStore) {
  RunRecord run = cold_run(300);
  run.layers[1] = LayerSteps{.digest = digest(1), .size = 5};
  const std::string svg = waterfall_svg({.image = "x", .subtitle = "y"}, run);
  expect_well_formed(svg);
  EXPECT_NE(svg.find("… 173 more layers"), std::string::npos);
  EXPECT_NE(svg.find(digest(126).substr(0, 19)), std::string::npos);
  EXPECT_EQ(svg.find(digest(127).substr(0, 19)), std::string::npos);
  EXPECT_NE(svg.find("in store"), std::string::npos);
  EXPECT_LT(svg.size(), 600u << 10);
}

TEST(WaterfallSvg, AnotherToolsPhasesAreItsRows) {
  RunRecord run{.tool = "ctr", .ready = 2};
  run.phases = {{.name = "pull", .start = 0, .end = 1.5}, {.name = "run", .start = 1.5, .end = 2}};
  const std::string svg = waterfall_svg({.image = "x", .subtitle = "ctr"}, run);
  expect_well_formed(svg);
  EXPECT_NE(svg.find(">pull<"), std::string::npos);
  EXPECT_NE(svg.find(">run<"), std::string::npos);
  EXPECT_EQ(svg.find("start gantry"), std::string::npos);
}

TEST(WaterfallSvg, TicksAreOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_DOUBLE_EQ(tick_step(0.073), 0.01);
  EXPECT_DOUBLE_EQ(tick_step(0.7), 0.1);
  EXPECT_DOUBLE_EQ(tick_step(1.25), 0.2);
  EXPECT_DOUBLE_EQ(tick_step(30), 5);
  EXPECT_DOUBLE_EQ(tick_step(8), 1);
  EXPECT_GT(tick_step(0), 0);
}

}  // namespace
}  // namespace gantry::tools::bench
