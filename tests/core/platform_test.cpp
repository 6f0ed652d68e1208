#include "core/platform.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace gantry::core {
namespace {

Platform p(const char* text) { return Platform::parse(text); }

TEST(Platform, ParsesOsArch) {
  auto platform = p("linux/amd64");
  EXPECT_EQ(platform.os, "linux");
  EXPECT_EQ(platform.architecture, "amd64");
  EXPECT_TRUE(platform.variant.empty());
  EXPECT_EQ(platform.string(), "linux/amd64");
}

TEST(Platform, ParsesOsArchVariant) {
  auto platform = p("linux/arm64/v8");
  EXPECT_EQ(platform.os, "linux");
  EXPECT_EQ(platform.architecture, "arm64");
  EXPECT_EQ(platform.variant, "v8");
  EXPECT_EQ(platform.string(), "linux/arm64/v8");
}

TEST(Platform, RejectsMalformedSpecifiers) {
  for (const char* bad : {"linux", "", "linux/", "/amd64", "linux//v7", "a/b/c/d", "linux/amd 64", "linux/arm/v7/", "li.nux/amd64"}) {
    try {
      (void)Platform::parse(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input) << bad;
      EXPECT_NE(e.message().find("\"" + std::string(bad) + "\""), std::string::npos) << e.message();
    }
  }
}

TEST(Platform, HostIsLinuxInGoarchSpelling) {
  auto host = Platform::host();
  EXPECT_EQ(host.os, "linux");
  EXPECT_EQ(normalize(host), host) << "host() must already be canonical: " << host.string();
#if defined(__x86_64__)
  EXPECT_EQ(host.string(), "linux/amd64");
#elif defined(__aarch64__)
  EXPECT_EQ(host.string(), "linux/arm64/v8");
#endif
  EXPECT_TRUE(matches(host, host));
}

TEST(Platform, NormalizeSpellings) {
  EXPECT_EQ(normalize(p("Linux/x86_64")).string(), "linux/amd64");
  EXPECT_EQ(normalize(p("linux/x86-64")).string(), "linux/amd64");
  EXPECT_EQ(normalize(p("linux/amd64/v1")).string(), "linux/amd64");
  EXPECT_EQ(normalize(p("linux/amd64/v3")).string(), "linux/amd64/v3");
  EXPECT_EQ(normalize(p("linux/aarch64")).string(), "linux/arm64/v8");
  EXPECT_EQ(normalize(p("linux/arm64")).string(), "linux/arm64/v8");
  EXPECT_EQ(normalize(p("linux/arm64/8")).string(), "linux/arm64/v8");
  EXPECT_EQ(normalize(p("linux/arm64/v8.2")).string(), "linux/arm64/v8.2");
  EXPECT_EQ(normalize(p("linux/arm")).string(), "linux/arm/v7");
  EXPECT_EQ(normalize(p("linux/arm/6")).string(), "linux/arm/v6");
  EXPECT_EQ(normalize(p("linux/armhf")).string(), "linux/arm/v7");
  EXPECT_EQ(normalize(p("linux/armel")).string(), "linux/arm/v6");
  EXPECT_EQ(normalize(p("linux/i386")).string(), "linux/386");
  EXPECT_EQ(normalize(p("macos/arm64")).string(), "darwin/arm64/v8");
  EXPECT_EQ(normalize(p("linux/ppc64le")).string(), "linux/ppc64le");
}

TEST(Platform, NormalizeKeepsOsVersionAndFeatures) {
  Platform windows{.os = "Windows", .architecture = "AMD64", .variant = "", .os_version = "10.0.17763.1",
                   .os_features = {"win32k"}};
  auto normal = normalize(windows);
  EXPECT_EQ(normal.os, "windows");
  EXPECT_EQ(normal.architecture, "amd64");
  EXPECT_EQ(normal.os_version, "10.0.17763.1");
  EXPECT_EQ(normal.os_features, std::vector<std::string>{"win32k"});
}

TEST(Platform, NormalizeIsIdempotent) {
  for (const char* text : {"linux/aarch64", "linux/arm/5", "linux/armel", "linux/x86_64/v1", "linux/riscv64"}) {
    auto once = normalize(p(text));
    EXPECT_EQ(normalize(once), once) << text;
  }
}

TEST(Platform, MatchesAcrossSpellings) {
  EXPECT_TRUE(matches(p("linux/arm64"), p("linux/arm64/v8")));
  EXPECT_TRUE(matches(p("linux/arm64/v8"), p("linux/arm64")));
  EXPECT_TRUE(matches(p("linux/amd64"), p("linux/x86_64")));
  EXPECT_TRUE(matches(p("linux/amd64"), p("linux/amd64/v1")));
  EXPECT_TRUE(matches(p("linux/arm"), p("linux/armhf")));
}

TEST(Platform, DifferentOsOrArchitectureNeverMatches) {
  EXPECT_FALSE(matches(p("linux/amd64"), p("windows/amd64")));
  EXPECT_FALSE(matches(p("linux/amd64"), p("linux/arm64")));
  // containerd's Only() would fall back to these; matches() leaves that to the caller.
  EXPECT_FALSE(matches(p("linux/amd64"), p("linux/386")));
  EXPECT_FALSE(matches(p("linux/arm64"), p("linux/arm/v7")));
}

TEST(Platform, Amd64LevelRunsLowerLevelsOnly) {
  EXPECT_TRUE(matches(p("linux/amd64/v3"), p("linux/amd64/v2")));
  EXPECT_TRUE(matches(p("linux/amd64/v3"), p("linux/amd64")));
  EXPECT_FALSE(matches(p("linux/amd64/v2"), p("linux/amd64/v3")));
  // A want without a variant is the baseline: a v3 image may use AVX2.
  EXPECT_FALSE(matches(p("linux/amd64"), p("linux/amd64/v3")));
}

TEST(Platform, ArmVariantRunsOlderVariantsDownToV5) {
  EXPECT_TRUE(matches(p("linux/arm/v7"), p("linux/arm/v6")));
  EXPECT_TRUE(matches(p("linux/arm"), p("linux/arm/v5")));
  EXPECT_FALSE(matches(p("linux/arm/v6"), p("linux/arm/v7")));
  EXPECT_FALSE(matches(p("linux/arm/v7"), p("linux/arm/v4")));
}

TEST(Platform, Arm64MinorVersions) {
  EXPECT_TRUE(matches(p("linux/arm64/v8.2"), p("linux/arm64")));
  EXPECT_TRUE(matches(p("linux/arm64/v8.2"), p("linux/arm64/v8.1")));
  EXPECT_FALSE(matches(p("linux/arm64"), p("linux/arm64/v8.2")));
  EXPECT_TRUE(matches(p("linux/arm64/v9.1"), p("linux/arm64/v9")));
  EXPECT_TRUE(matches(p("linux/arm64/v9.1"), p("linux/arm64/v8.6")));
  EXPECT_FALSE(matches(p("linux/arm64/v9.1"), p("linux/arm64/v8.7")));
  EXPECT_FALSE(matches(p("linux/arm64/v8.5"), p("linux/arm64/v9")));
}

TEST(Platform, OtherArchitecturesNeedAnEqualVariant) {
  EXPECT_TRUE(matches(p("linux/riscv64"), p("linux/riscv64")));
  EXPECT_FALSE(matches(p("linux/riscv64"), p("linux/riscv64/rva23")));
}

TEST(Platform, MalformedVariantsMatchOnlyThemselves) {
  EXPECT_FALSE(matches(p("linux/arm/v7"), p("linux/arm/v-1")));
  EXPECT_FALSE(matches(p("linux/arm64/v8.2"), p("linux/arm64/v8.-1")));
  EXPECT_FALSE(matches(p("linux/amd64/v3"), p("linux/amd64/vx")));
  EXPECT_TRUE(matches(p("linux/arm/vx"), p("linux/arm/vx")));
}

}  // namespace
}  // namespace gantry::core
