#include "core/digest.hpp"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>
#include <utility>

#include "core/error.hpp"

namespace gantry::core {
namespace {

// FIPS 180-2 appendix B test vectors (and the well-known hash of nothing).
constexpr const char* kSha256Empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kSha256Abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kSha512Abc =
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
constexpr const char* kTwoBlockMessage = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr const char* kSha256TwoBlock = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";

void expect_parse_error(const std::string& text, ErrorKind kind) {
  try {
    (void)Digest::parse(text);
    ADD_FAILURE() << "accepted \"" << text << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << text << ": " << e.what();
  }
}

TEST(Digest, KnownVectors) {
  EXPECT_EQ(digest_of("").hex(), kSha256Empty);
  EXPECT_EQ(digest_of("abc").hex(), kSha256Abc);
  EXPECT_EQ(digest_of(kTwoBlockMessage).hex(), kSha256TwoBlock);
  auto sha512 = digest_of("abc", DigestAlgorithm::sha512);
  EXPECT_EQ(sha512.algorithm(), DigestAlgorithm::sha512);
  EXPECT_EQ(sha512.hex(), kSha512Abc);
  EXPECT_EQ(sha512.string(), std::string("sha512:") + kSha512Abc);
}

TEST(Digest, IncrementalEqualsOneShotAtEverySplit) {
  const std::string message = kTwoBlockMessage;
  for (auto algorithm : {DigestAlgorithm::sha256, DigestAlgorithm::sha512}) {
    const Digest whole = digest_of(message, algorithm);
    for (std::size_t split = 0; split <= message.size(); ++split) {
      Hasher hasher(algorithm);
      hasher.update(std::string_view(message).substr(0, split));
      hasher.update(message.data() + split, message.size() - split);
      EXPECT_EQ(hasher.finish(), whole) << "split at " << split;
    }
  }
}

TEST(Digest, FinishResetsTheHasherForReuse) {
  Hasher hasher;
  hasher.update("abc");
  EXPECT_EQ(hasher.finish().hex(), kSha256Abc);
  EXPECT_EQ(hasher.finish().hex(), kSha256Empty);  // nothing since the last finish
  hasher.update("ab");
  hasher.update("c");
  EXPECT_EQ(hasher.finish().hex(), kSha256Abc);

  Hasher sha512(DigestAlgorithm::sha512);
  sha512.update("xyz");
  (void)sha512.finish();
  sha512.update("abc");
  EXPECT_EQ(sha512.finish().hex(), kSha512Abc);
}

TEST(Digest, MovedHasherKeepsItsState) {
  Hasher first;
  first.update("ab");
  Hasher second(std::move(first));
  second.update("c");
  EXPECT_EQ(second.finish().hex(), kSha256Abc);
  EXPECT_EQ(second.algorithm(), DigestAlgorithm::sha256);
}

TEST(Digest, ParseRoundTrips) {
  auto digest = Digest::parse(std::string("sha256:") + kSha256Abc);
  EXPECT_EQ(digest.algorithm(), DigestAlgorithm::sha256);
  EXPECT_EQ(digest.hex(), kSha256Abc);
  EXPECT_EQ(digest, digest_of("abc"));
  EXPECT_EQ(Digest::parse(digest.string()), digest);
  EXPECT_EQ(Digest::parse(std::string("sha512:") + kSha512Abc), digest_of("abc", DigestAlgorithm::sha512));
}

TEST(Digest, ParseRejectsMalformedAsBadInput) {
  const std::string hex = kSha256Abc;
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  expect_parse_error("sha256:" + upper, ErrorKind::bad_input);
  expect_parse_error("sha256:" + hex.substr(1), ErrorKind::bad_input);
  expect_parse_error("sha256:" + hex + "0", ErrorKind::bad_input);
  expect_parse_error("sha256:" + hex.substr(1) + "g", ErrorKind::bad_input);
  expect_parse_error("sha256:", ErrorKind::bad_input);
  expect_parse_error("sha256" + hex, ErrorKind::bad_input);  // missing colon
  expect_parse_error(hex, ErrorKind::bad_input);
  expect_parse_error("", ErrorKind::bad_input);
  expect_parse_error(":" + hex, ErrorKind::bad_input);
  expect_parse_error("SHA256:" + hex, ErrorKind::bad_input);
  expect_parse_error("sha512:" + hex, ErrorKind::bad_input);  // a sha256-length hex
  expect_parse_error(" sha256:" + hex, ErrorKind::bad_input);
}

TEST(Digest, ParseGivesUnsupportedForWellFormedUnknownAlgorithm) {
  expect_parse_error(std::string("blake3:") + kSha256Abc, ErrorKind::unsupported);
  expect_parse_error(std::string("sha256+b64u:") + kSha256Abc, ErrorKind::unsupported);
}

TEST(Digest, UnknownAlgorithmWithMalformedEncodingIsBadInput) {
  expect_parse_error("blake3:", ErrorKind::bad_input);
  expect_parse_error("x:!!", ErrorKind::bad_input);
}

TEST(Digest, FromBytesChecksTheLength) {
  const unsigned char bytes[32] = {0xba, 0x78};
  auto digest = Digest::from_bytes(DigestAlgorithm::sha256, bytes);
  EXPECT_EQ(digest.hex().substr(0, 6), "ba7800");
  EXPECT_EQ(digest.hex().size(), 64u);
  EXPECT_THROW((void)Digest::from_bytes(DigestAlgorithm::sha512, bytes), Error);
}

TEST(Digest, EqualityOrderAndHash) {
  auto a = digest_of("a");
  auto b = digest_of("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(a, digest_of("a"));
  EXPECT_TRUE((a < b) != (b < a));
  std::unordered_set<Digest> set{a, b, digest_of("a")};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(to_string(DigestAlgorithm::sha256), "sha256");
  EXPECT_EQ(to_string(DigestAlgorithm::sha512), "sha512");
}

}  // namespace
}  // namespace gantry::core
