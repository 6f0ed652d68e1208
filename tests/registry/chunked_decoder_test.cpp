#include "registry/detail/chunked_decoder.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace gantry::registry::detail {
namespace {

struct Decoded {
  std::string body;
  std::size_t consumed = 0;
  bool done = false;
};

// Feeds `wire` in pieces of `piece` bytes, as reads from a socket would
// arrive, and collects the body.
Decoded decode(const std::string& wire, std::size_t piece) {
  ChunkedDecoder decoder;
  Decoded out;
  for (std::size_t at = 0; at < wire.size() && !decoder.done(); at += piece) {
    std::string part = wire.substr(at, piece);
    std::vector<std::byte> buffer(part.size());
    std::memcpy(buffer.data(), part.data(), part.size());
    ChunkedDecoder::Result r = decoder.decode(buffer);
    out.body.append(reinterpret_cast<const char*>(buffer.data()), r.data);
    out.consumed += r.consumed;
  }
  out.done = decoder.done();
  return out;
}

const std::string kWire =
    "4\r\nWiki\r\n"
    "5;name=value\r\npedia\r\n"
    "E\r\n in\r\n\r\nchunks.\r\n"
    "0\r\n"
    "Trailer: yes\r\n"
    "\r\n";

TEST(ChunkedDecoder, WholeBodyAtOnce) {
  Decoded d = decode(kWire, kWire.size());
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(d.consumed, kWire.size());
}

TEST(ChunkedDecoder, AnySplitOfTheFramingGivesTheSameBody) {
  for (std::size_t piece = 1; piece <= kWire.size(); ++piece) {
    Decoded d = decode(kWire, piece);
    EXPECT_TRUE(d.done) << piece;
    EXPECT_EQ(d.body, "Wikipedia in\r\n\r\nchunks.") << piece;
  }
}

TEST(ChunkedDecoder, StopsAtTheEndOfTheBody) {
  Decoded d = decode("3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", 64);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, "abc");
  EXPECT_EQ(d.consumed, std::string("3\r\nabc\r\n0\r\n\r\n").size());
}

TEST(ChunkedDecoder, LargeHexSizes) {
  std::string data(0x1ff, 'x');
  Decoded d = decode("1FF\r\n" + data + "\r\n0\r\n\r\n", 100);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, data);
}

TEST(ChunkedDecoder, NotDoneUntilTheTrailersEnd) {
  EXPECT_FALSE(decode("3\r\nabc\r\n0\r\n", 64).done);
  EXPECT_FALSE(decode("3\r\nabc\r\n0\r\nX: y\r\n", 64).done);
}

TEST(ChunkedDecoder, MalformedFramingIsANetworkError) {
  for (const char* bad : {"\r\n", "g\r\n", "3\rabc", "3\r\nabcd\r\n", "3\r\nabc\rx", "1234567890123456\r\n",
                          "0\r\n\rx"}) {
    try {
      (void)decode(bad, 64);
      ADD_FAILURE() << bad;
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::network) << bad;
    }
  }
}

TEST(ChunkedDecoder, EndlessExtensionsAndTrailersAreCut) {
  EXPECT_THROW((void)decode("1;" + std::string(5000, 'e') + "\r\n", 512), core::Error);
  EXPECT_THROW((void)decode("0\r\n" + std::string(70000, 't'), 4096), core::Error);
}

}  // namespace
}  // namespace gantry::registry::detail
