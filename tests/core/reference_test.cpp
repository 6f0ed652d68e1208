#include "core/reference.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace gantry::core {
namespace {

const std::string kHex(64, 'a');
const std::string kDigest = "sha256:" + kHex;

// Parsing `text` fails with `kind`, and the message quotes the input and says `reason`.
void expect_rejected(const std::string& text, const std::string& reason, ErrorKind kind = ErrorKind::bad_input) {
  try {
    (void)Reference::parse(text);
    ADD_FAILURE() << "accepted \"" << text << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << text;
    EXPECT_NE(e.message().find("\"" + text + "\""), std::string::npos) << e.message();
    EXPECT_NE(e.message().find(reason), std::string::npos) << "wanted \"" << reason << "\" in: " << e.message();
  }
}

TEST(Reference, BareNameGetsDockerHubLibraryAndLatest) {
  auto ref = Reference::parse("busybox");
  EXPECT_EQ(ref.registry, "docker.io");
  EXPECT_EQ(ref.repository, "library/busybox");
  EXPECT_EQ(ref.tag, "latest");
  EXPECT_FALSE(ref.digest.has_value());
  EXPECT_EQ(ref.string(), "docker.io/library/busybox:latest");
  EXPECT_EQ(ref.name(), "docker.io/library/busybox");
  EXPECT_EQ(ref.manifest_reference(), "latest");
  EXPECT_EQ(ref.endpoint_host(), "registry-1.docker.io");
}

TEST(Reference, DockerHubSpellingsNormaliseToOneReference) {
  auto bare = Reference::parse("busybox");
  EXPECT_EQ(Reference::parse("docker.io/busybox"), bare);
  EXPECT_EQ(Reference::parse("index.docker.io/library/busybox"), bare);
  EXPECT_EQ(Reference::parse("docker.io/library/busybox:latest"), bare);
}

TEST(Reference, TwoComponentsWithoutHostStayOnDockerHub) {
  auto ref = Reference::parse("team/app:1.2");
  EXPECT_EQ(ref.registry, "docker.io");
  EXPECT_EQ(ref.repository, "team/app");
  EXPECT_EQ(ref.tag, "1.2");
}

TEST(Reference, PortWithoutSlashIsATag) {
  auto ref = Reference::parse("foo:5000");
  EXPECT_EQ(ref.registry, "docker.io");
  EXPECT_EQ(ref.repository, "library/foo");
  EXPECT_EQ(ref.tag, "5000");
}

TEST(Reference, LocalhostWithPortIsARegistry) {
  auto ref = Reference::parse("localhost:5000/x");
  EXPECT_EQ(ref.registry, "localhost:5000");
  EXPECT_EQ(ref.repository, "x");  // no library/ outside docker.io
  EXPECT_EQ(ref.tag, "latest");
  EXPECT_EQ(ref.endpoint_host(), "localhost:5000");
  EXPECT_EQ(ref.string(), "localhost:5000/x:latest");
}

TEST(Reference, BareLocalhostIsARegistry) {
  auto ref = Reference::parse("localhost/x");
  EXPECT_EQ(ref.registry, "localhost");
  EXPECT_EQ(ref.repository, "x");
}

TEST(Reference, BracketedIpv6WithPortAndTag) {
  auto ref = Reference::parse("[::1]:5000/x:t");
  EXPECT_EQ(ref.registry, "[::1]:5000");
  EXPECT_EQ(ref.repository, "x");
  EXPECT_EQ(ref.tag, "t");
  EXPECT_EQ(ref.endpoint_host(), "[::1]:5000");
}

TEST(Reference, UppercaseHostIsAccepted) {
  auto ref = Reference::parse("UPPER.example.com/x");
  EXPECT_EQ(ref.registry, "UPPER.example.com");
  EXPECT_EQ(ref.repository, "x");
}

TEST(Reference, DigestOnlyHasNoTag) {
  auto ref = Reference::parse("localhost:5000/x@" + kDigest);
  EXPECT_TRUE(ref.tag.empty());
  ASSERT_TRUE(ref.digest.has_value());
  EXPECT_EQ(ref.digest->hex(), kHex);
  EXPECT_EQ(ref.manifest_reference(), kDigest);
  EXPECT_EQ(ref.string(), "localhost:5000/x@" + kDigest);
}

TEST(Reference, TagAndDigestAreBothKeptAndTheDigestIsAskedFor) {
  auto ref = Reference::parse("busybox:1.36@" + kDigest);
  EXPECT_EQ(ref.tag, "1.36");
  ASSERT_TRUE(ref.digest.has_value());
  EXPECT_EQ(ref.manifest_reference(), kDigest);
  EXPECT_EQ(ref.string(), "docker.io/library/busybox:1.36@" + kDigest);
}

TEST(Reference, StringRoundTrips) {
  for (const char* text : {"busybox", "localhost:5000/a/b-c__d.e:v1.0_x", "[::1]:5000/x:t", "quay.io/org/app@"}) {
    std::string input = text;
    if (input.back() == '@') input += kDigest;
    auto ref = Reference::parse(input);
    EXPECT_EQ(Reference::parse(ref.string()), ref) << input;
  }
}

TEST(Reference, PathSeparatorsFollowTheGrammar) {
  for (const char* ok : {"a.b", "a_b", "a__b", "a-b", "a---b", "a0/b.c_d__e-f"}) {
    EXPECT_NO_THROW((void)Reference::parse(std::string("localhost/") + ok)) << ok;
  }
  for (const char* bad : {"a..b", "a___b", "a._b", "a-_b", "a.", "_a", "a-"}) {
    expect_rejected(std::string("localhost/") + bad, "invalid path component");
  }
}

TEST(Reference, RejectsUppercasePath) {
  expect_rejected("Busybox", "repository name must be lowercase");
  expect_rejected("team/App", "repository name must be lowercase");
  // Without '.', ':' or "localhost" an uppercase first component is a path.
  expect_rejected("UPPER/x", "repository name must be lowercase");
}

TEST(Reference, TagLimitIs128Characters) {
  EXPECT_EQ(Reference::parse("x:" + std::string(128, 't')).tag, std::string(128, 't'));
  expect_rejected("x:" + std::string(129, 't'), "the limit is 128");
}

TEST(Reference, RejectsBadTags) {
  expect_rejected("a:", "empty tag");
  expect_rejected("a:.x", "invalid tag");
  expect_rejected("a:-x", "invalid tag");
  expect_rejected("a:x+y", "invalid tag");
  expect_rejected("a/b:", "empty tag");
}

TEST(Reference, NameLimitIs255Characters) {
  std::string host = "localhost/";
  EXPECT_NO_THROW((void)Reference::parse(host + std::string(255 - host.size(), 'a')));
  expect_rejected(host + std::string(256 - host.size(), 'a'), "the limit is 255");
  // Counted after normalisation: docker.io/library/ is added to a bare name.
  expect_rejected(std::string(240, 'a'), "the limit is 255");
}

TEST(Reference, RejectsEmptyComponents) {
  expect_rejected("", "empty reference");
  expect_rejected("a//b", "empty path component");
  expect_rejected("a/", "empty path component");
  expect_rejected("example.com/", "empty repository path");
  expect_rejected(":tag", "missing repository name");
}

TEST(Reference, RejectsLeadingSeparator) { expect_rejected("-a", "invalid path component"); }

TEST(Reference, RejectsBadRegistries) {
  expect_rejected("a:b/c", "invalid registry");
  expect_rejected("example.com:/c", "invalid registry");
  expect_rejected("example.com:99999/c", "invalid registry");
  expect_rejected("-bad.com/c", "invalid registry");
  expect_rejected("[::1/c", "invalid registry");
  expect_rejected("[fe80::1%eth0]:5000/c", "invalid registry");
  expect_rejected("[::1]x/c", "invalid registry");
}

TEST(Reference, RejectsBadDigests) {
  expect_rejected("@sha256:short", "missing repository name");
  expect_rejected("x@sha256:short", "64 lowercase hex");
  expect_rejected("x@sha256:" + std::string(64, 'A'), "64 lowercase hex");
  expect_rejected("x@", "expected ALGORITHM:HEX");
  expect_rejected("x@blake3:" + kHex, "unsupported digest algorithm", ErrorKind::unsupported);
}

TEST(Reference, RejectsImageIdAsName) { expect_rejected(kHex, "image ID"); }

TEST(Reference, ControlCharactersDoNotReachTheMessageLine) {
  try {
    (void)Reference::parse("a\nb");
    FAIL() << "accepted a newline";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gantry::core
