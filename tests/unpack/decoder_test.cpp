// The layer decoders against data compressed by independent tools (gzip(1),
// zstd(1), Python's zlib), fed in pieces as the fetcher would deliver them.
#include "unpack/decoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
// libasan exports it; g++ 12 does not ship clang's allocator_interface.h.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

#include "core/error.hpp"

namespace gantry::unpack {
namespace {

namespace fs = std::filesystem;
using core::ErrorKind;
using core::media_type::Compression;
using Bytes = std::vector<std::byte>;
using namespace std::string_view_literals;

constexpr std::size_t kWhole = std::numeric_limits<std::size_t>::max();

Bytes to_bytes(std::string_view text) {
  Bytes out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

Bytes concat(std::initializer_list<std::span<const std::byte>> parts) {
  Bytes out;
  for (auto part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// Deterministic data with the texture of a layer: runs of text and runs of
// bytes from random to repetitive.
Bytes layer_like(std::size_t size) {
  static constexpr std::string_view kWords[] = {"usr",   "lib",  "bin", "the",     "config", "python3",
                                                "share", "doc",  "0644", "return", "if",     "static",
                                                "int",   "void", "\n",  "#include", "{",     "}"};
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    const std::size_t run = 256 + next() % 4096;
    if (next() % 2 == 0) {
      for (std::size_t n = 0; n < run; ++n) {
        for (char c : kWords[next() % std::size(kWords)]) out.push_back(std::byte(c));
        out.push_back(std::byte{' '});
      }
    } else {
      const std::uint64_t alphabet = 1 + next() % 256;  // 1: a zero run, 256: noise
      for (std::size_t n = 0; n < run; ++n) out.push_back(std::byte(next() % alphabet));
    }
  }
  out.resize(size);
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string dir = (fs::temp_directory_path() / "gantry-decoder-test-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = dir;
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Bytes read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return to_bytes(text);
}

// Runs `command` through sh with `input` on stdin (a file, so that tools see
// a regular file: zstd then records the content size) and returns its stdout.
Bytes run_filter(const std::string& command, std::span<const std::byte> input = {}) {
  TempDir dir;
  const fs::path in = dir.path() / "in";
  const fs::path out = dir.path() / "out";
  std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(input.data()),
                                            static_cast<std::streamsize>(input.size()));
  const std::string line = "(" + command + ") < '" + in.string() + "' > '" + out.string() + "'";
  if (std::system(line.c_str()) != 0) throw std::runtime_error("command failed: " + command);
  return read_file(out);
}

// Python builds gzip members with every optional header field (RFC 1952
// §2.3.1: FTEXT FHCRC FEXTRA FNAME FCOMMENT) around zlib's raw deflate.
Bytes gzip_all_header_fields(std::span<const std::byte> data, bool corrupt_header_crc = false) {
  const std::string script = R"(
import sys, zlib, struct
data = sys.stdin.buffer.read()
hdr = b'\x1f\x8b\x08\x1f' + struct.pack('<I', 1700000000) + b'\x00\x03'
hdr += struct.pack('<H', 8) + b'AB\x04\x00wxyz' + b'layer.tar\x00' + b'a comment\x00'
crc16 = zlib.crc32(hdr) & 0xffff
if sys.argv[1] == 'bad': crc16 ^= 1
c = zlib.compressobj(6, zlib.DEFLATED, -15)
body = c.compress(data) + c.flush()
sys.stdout.buffer.write(hdr + struct.pack('<H', crc16) + body + struct.pack('<II', zlib.crc32(data), len(data) & 0xffffffff))
)";
  TempDir dir;
  const fs::path py = dir.path() / "member.py";
  std::ofstream(py) << script;
  return run_filter("python3 '" + py.string() + "' " + (corrupt_header_crc ? "bad" : "good"), data);
}

struct Decoded {
  Bytes bytes;
  std::size_t consumed = 0;
  bool finished = false;
};

// Feeds `in` at most `in_step` bytes at a time into an output buffer of
// `out_step` bytes, as the pipeline would, until the decoder has nothing
// more to say; checks the interface's promises on the way.
Decoded decode_all(Decoder& decoder, std::span<const std::byte> in, std::size_t in_step, std::size_t out_step) {
  Bytes room(std::min<std::size_t>(out_step, 1 << 20));
  Decoded result;
  for (;;) {
    const auto window = in.subspan(result.consumed, std::min(in_step, in.size() - result.consumed));
    const DecodeStep step = decoder.decode(window, room);
    EXPECT_LE(step.consumed, window.size());
    EXPECT_LE(step.produced, room.size());
    result.bytes.insert(result.bytes.end(), room.begin(), room.begin() + static_cast<std::ptrdiff_t>(step.produced));
    result.consumed += step.consumed;
    if (step.consumed == 0 && step.produced == 0) {
      if (!window.empty()) ADD_FAILURE() << "decoder stalled with input and room left";
      break;
    }
  }
  result.finished = decoder.finished();
  return result;
}

Decoded decode_all(Compression compression, std::span<const std::byte> in, std::size_t in_step = kWhole,
                   std::size_t out_step = 64 << 10) {
  DecoderPtr decoder = make_decoder(compression);
  return decode_all(*decoder, in, in_step, out_step);
}

// Runs `fn` and returns the Error it throws; fails the test if it does not.
template <typename Fn>
core::Error error_from(Fn&& fn) {
  try {
    fn();
  } catch (const core::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no gantry::core::Error thrown";
  return core::Error(ErrorKind::io, "none");
}

bool contains(const core::Error& e, std::string_view text) {
  return std::string_view(e.what()).find(text) != std::string_view::npos;
}

// Where to cut a stream of two members of `member` bytes each: everywhere
// near the start, the joint and the end, and a sample in between.
std::vector<std::size_t> cuts(std::size_t member) {
  std::vector<std::size_t> out;
  for (std::size_t cut = 0; cut <= 2 * member; ++cut) {
    const bool near = cut < 32 || (cut + 32 > member && cut < member + 32) || cut + 32 > 2 * member;
    if (near || cut % 61 == 0) out.push_back(cut);
  }
  return out;
}

// ---- Round trips at many chunk sizes --------------------------------------

struct Source {
  const char* name;
  Compression compression;
  const char* command;  // compresses stdin to stdout
};

const Source kSources[] = {
    {"gzip6", Compression::gzip, "gzip -c -6 -n"},
    {"gzip1", Compression::gzip, "gzip -c -1"},
    {"python_gzip9", Compression::gzip,
     "python3 -c 'import sys,gzip; sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read(), 9))'"},
    {"zstd3", Compression::zstd, "zstd -q -c -3"},
    {"zstd19_nocheck", Compression::zstd, "zstd -q -c -19 --no-check"},
    {"zstd_piped", Compression::zstd, "cat | zstd -q -c -1"},  // no content size in the header
    {"identity", Compression::none, "cat"},
};

struct Steps {
  std::size_t in;
  std::size_t out;
};

const Steps kSteps[] = {{1, 64 << 10}, {64 << 10, 1}, {7, 13}, {4096, 4096}, {1 << 20, 1 << 20}, {kWhole, 64 << 10}};

const Bytes& sample() {
  static const Bytes data = layer_like(256 << 10);
  return data;
}

const Bytes& compressed(const Source& source) {
  static std::map<std::string, Bytes> cache;
  auto it = cache.find(source.name);
  if (it == cache.end()) it = cache.emplace(source.name, run_filter(source.command, sample())).first;
  return it->second;
}

class RoundTrip : public ::testing::TestWithParam<std::tuple<Source, Steps>> {};

TEST_P(RoundTrip, DecodesToTheOriginalInAnyPieces) {
  const auto& [source, steps] = GetParam();
  const Bytes& in = compressed(source);
  const Decoded d = decode_all(source.compression, in, steps.in, steps.out);
  EXPECT_TRUE(d.finished);
  EXPECT_EQ(d.consumed, in.size());
  ASSERT_EQ(d.bytes.size(), sample().size());
  EXPECT_TRUE(d.bytes == sample());
}

std::string round_trip_name(const ::testing::TestParamInfo<RoundTrip::ParamType>& info) {
  const auto& [source, steps] = info.param;
  auto size = [](std::size_t n) { return n == kWhole ? std::string("all") : std::to_string(n); };
  return std::string(source.name) + "_in" + size(steps.in) + "_out" + size(steps.out);
}

INSTANTIATE_TEST_SUITE_P(Decoders, RoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kSources), ::testing::ValuesIn(kSteps)),
                         round_trip_name);

// ---- gzip -------------------------------------------------------------------

TEST(GzipDecoder, MembersFormOneStream) {
  const Bytes a = to_bytes("first member\n");
  const Bytes b = layer_like(100 << 10);
  const Bytes stream = concat({run_filter("gzip -c -n", a), run_filter("gzip -c -n", {}), run_filter("gzip -c -9 -n", b)});
  for (const Steps& steps : {Steps{kWhole, 64 << 10}, Steps{1, 4096}, Steps{4096, 1}}) {
    const Decoded d = decode_all(Compression::gzip, stream, steps.in, steps.out);
    EXPECT_TRUE(d.finished);
    EXPECT_EQ(d.consumed, stream.size());
    EXPECT_TRUE(d.bytes == concat({a, b}));
  }
}

TEST(GzipDecoder, FinishedOnlyAtTheEndOfAMember) {
  const Bytes data = layer_like(20 << 10);
  const Bytes one = run_filter("gzip -c -n", data);
  const Bytes two = concat({one, one});
  // A cut two-member stream is complete exactly after each member.
  for (std::size_t cut : cuts(one.size())) {
    const Decoded d = decode_all(Compression::gzip, std::span(two).first(cut));
    EXPECT_EQ(d.finished, cut == one.size() || cut == two.size()) << "cut at " << cut;
    EXPECT_EQ(d.consumed, cut);
  }
}

TEST(GzipDecoder, EveryOptionalHeaderFieldIsParsedAndChecked) {
  const Bytes data = layer_like(30 << 10);
  const Bytes member = gzip_all_header_fields(data);
  for (const Steps& steps : {Steps{kWhole, 64 << 10}, Steps{1, 1}}) {
    const Decoded d = decode_all(Compression::gzip, member, steps.in, steps.out);
    EXPECT_TRUE(d.finished);
    EXPECT_TRUE(d.bytes == data);
  }
  const Bytes bad_hcrc = gzip_all_header_fields(data, true);
  const core::Error e = error_from([&] { decode_all(Compression::gzip, bad_hcrc); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(e, "FHCRC")) << e.what();
}

// RFC 1952 §2.3.1: the trailer is CRC32 then ISIZE, four bytes each, little-endian.
TEST(GzipDecoder, TrailerMismatchIsCorrupt) {
  const Bytes member = run_filter("gzip -c -n", layer_like(10 << 10));
  for (std::size_t from_end : {std::size_t{8}, std::size_t{5}, std::size_t{4}, std::size_t{1}}) {  // CRC32, ISIZE bytes
    Bytes bad = member;
    bad[bad.size() - from_end] ^= std::byte{0x40};
    for (std::size_t in_step : {kWhole, std::size_t{1}}) {
      const core::Error e = error_from([&] { decode_all(Compression::gzip, bad, in_step); });
      EXPECT_EQ(e.kind(), ErrorKind::bad_input);
      EXPECT_TRUE(contains(e, "CRC32 or ISIZE")) << e.what();
    }
  }
  // The second member's trailer is checked just the same.
  Bytes second_bad = concat({member, member});
  second_bad.back() ^= std::byte{1};
  const core::Error e = error_from([&] { decode_all(Compression::gzip, second_bad); });
  EXPECT_TRUE(contains(e, "member 2")) << e.what();
}

TEST(GzipDecoder, CorruptDeflateDataIsBadInput) {
  const Bytes member = run_filter("gzip -c -n", layer_like(64 << 10));
  // Byte 10 starts the deflate data (no FNAME with -n): BTYPE 11 is reserved
  // (RFC 1951 §3.2.3).
  Bytes reserved_block = member;
  reserved_block[10] |= std::byte{0x06};
  const core::Error e = error_from([&] { decode_all(Compression::gzip, reserved_block); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(e, "invalid deflate block")) << e.what();

  // Bits flipped inside the data: whichever check notices (a bad symbol or
  // distance, or the CRC of what came out), it is an error, never success.
  Bytes flipped = member;
  for (std::size_t at = member.size() / 2; at < member.size() / 2 + 8; ++at) flipped[at] ^= std::byte{0xa5};
  const core::Error f = error_from([&] { decode_all(Compression::gzip, flipped); });
  EXPECT_EQ(f.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(f, "gzip: corrupt stream")) << f.what();
}

TEST(GzipDecoder, TrailingGarbageIsAnError) {
  const Bytes member = run_filter("gzip -c -n", to_bytes("data\n"));
  for (const Bytes& garbage : {to_bytes("garbage"), Bytes(512), to_bytes("\x1f\x8a")}) {
    for (std::size_t in_step : {kWhole, std::size_t{1}}) {
      const core::Error e = error_from([&] { decode_all(Compression::gzip, concat({member, garbage}), in_step); });
      EXPECT_EQ(e.kind(), ErrorKind::bad_input);
      EXPECT_TRUE(contains(e, "trailing garbage after gzip stream")) << e.what();
    }
  }
  // A lone 1f may start another member: not garbage yet, but not finished.
  const Decoded d = decode_all(Compression::gzip, concat({member, to_bytes("\x1f")}));
  EXPECT_FALSE(d.finished);
  EXPECT_EQ(d.bytes, to_bytes("data\n"));
}

TEST(GzipDecoder, HeaderIsChecked) {
  const core::Error not_gzip = error_from([] { decode_all(Compression::gzip, to_bytes("ustar tar data")); });
  EXPECT_EQ(not_gzip.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(not_gzip, "not a gzip stream")) << not_gzip.what();

  Bytes reserved = run_filter("gzip -c -n", to_bytes("data\n"));
  reserved[3] |= std::byte{0x20};  // FLG bit 5
  const core::Error e = error_from([&] { decode_all(Compression::gzip, reserved); });
  EXPECT_TRUE(contains(e, "reserved header flags")) << e.what();

  Bytes method = run_filter("gzip -c -n", to_bytes("data\n"));
  method[2] = std::byte{7};  // CM: only 8 (deflate) exists
  const core::Error m = error_from([&] { decode_all(Compression::gzip, method); });
  EXPECT_EQ(m.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(m, "unsupported compression method")) << m.what();
}

// ---- zstd -------------------------------------------------------------------

// RFC 8878 §3.1.2: a skippable frame, magic 0x184D2A5? and a 4-byte size.
Bytes skippable_frame(std::string_view payload) {
  Bytes frame = to_bytes("\x53\x2a\x4d\x18");
  const auto size = static_cast<std::uint32_t>(payload.size());
  for (int shift = 0; shift < 32; shift += 8) frame.push_back(std::byte((size >> shift) & 0xff));
  return concat({frame, to_bytes(payload)});
}

// RFC 8878 §3.1.1.1: a frame whose header asks for a window of 2^window_log
// bytes (Window_Descriptor with mantissa 0), holding one empty raw last block.
Bytes frame_with_window(int window_log) {
  Bytes frame = to_bytes("\x28\xb5\x2f\xfd");
  frame.push_back(std::byte{0x00});                               // Frame_Header_Descriptor: no FCS, not single segment
  frame.push_back(std::byte(static_cast<unsigned>(window_log - 10) << 3));  // Exponent, Mantissa 0
  frame.push_back(std::byte{0x01});                                // Block_Header: last, raw, size 0
  frame.push_back(std::byte{0x00});
  frame.push_back(std::byte{0x00});
  return frame;
}

TEST(ZstdDecoder, FramesAndSkippableFramesFormOneStream) {
  const Bytes a = layer_like(40 << 10);
  const Bytes b = to_bytes("second frame\n");
  const Bytes stream = concat({run_filter("zstd -q -c", a), skippable_frame("gantry"), run_filter("zstd -q -c -9", b)});
  for (const Steps& steps : {Steps{kWhole, 64 << 10}, Steps{1, 4096}, Steps{4096, 1}}) {
    const Decoded d = decode_all(Compression::zstd, stream, steps.in, steps.out);
    EXPECT_TRUE(d.finished);
    EXPECT_EQ(d.consumed, stream.size());
    EXPECT_TRUE(d.bytes == concat({a, b}));
  }
}

TEST(ZstdDecoder, FinishedOnlyAtTheEndOfAFrame) {
  const Bytes one = run_filter("zstd -q -c", layer_like(20 << 10));
  const Bytes two = concat({one, one});
  for (std::size_t cut : cuts(one.size())) {
    const Decoded d = decode_all(Compression::zstd, std::span(two).first(cut));
    EXPECT_EQ(d.finished, cut == one.size() || cut == two.size()) << "cut at " << cut;
    EXPECT_EQ(d.consumed, cut);
  }
}

TEST(ZstdDecoder, CorruptDataIsBadInputWithZstdsReason) {
  const Bytes frame = run_filter("zstd -q -c --check", layer_like(64 << 10));
  Bytes bad_checksum = frame;
  bad_checksum.back() ^= std::byte{1};  // the frame's last 4 bytes: XXH64 checksum
  const core::Error e = error_from([&] { decode_all(Compression::zstd, bad_checksum); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(e, "zstd: corrupt stream in frame 1")) << e.what();
  EXPECT_TRUE(contains(e, "checksum")) << e.what();

  Bytes flipped = frame;
  for (std::size_t at = frame.size() / 2; at < frame.size() / 2 + 8; ++at) flipped[at] ^= std::byte{0xa5};
  const core::Error f = error_from([&] { decode_all(Compression::zstd, flipped); });
  EXPECT_EQ(f.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(f, "zstd: corrupt stream")) << f.what();

  const core::Error n = error_from([] { decode_all(Compression::zstd, to_bytes("ustar tar data")); });
  EXPECT_EQ(n.kind(), ErrorKind::bad_input);
  EXPECT_TRUE(contains(n, "not a zstd stream")) << n.what();
}

TEST(ZstdDecoder, TrailingGarbageIsAnError) {
  const Bytes frame = run_filter("zstd -q -c", to_bytes("data\n"));
  for (const Bytes& garbage : {to_bytes("garbage"), Bytes(512)}) {
    for (std::size_t in_step : {kWhole, std::size_t{1}}) {
      const core::Error e = error_from([&] { decode_all(Compression::zstd, concat({frame, garbage}), in_step); });
      EXPECT_EQ(e.kind(), ErrorKind::bad_input);
      EXPECT_TRUE(contains(e, "trailing garbage after zstd stream")) << e.what();
    }
  }
}

TEST(ZstdDecoder, WindowOver128MiBIsRefused) {
  const Decoded fits = decode_all(Compression::zstd, frame_with_window(27));
  EXPECT_TRUE(fits.finished);
  EXPECT_TRUE(fits.bytes.empty());

  const core::Error e = error_from([] { decode_all(Compression::zstd, frame_with_window(28)); });
  EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  EXPECT_TRUE(contains(e, "window over 128 MiB")) << e.what();
}

// libzstd decodes a frame that is whole in one call in a single pass,
// without its window limit; gantry checks the header itself, so the verdict
// is the same whatever the split (found by tests/fuzz/decoder_fuzz.cpp).
TEST(ZstdDecoder, WindowOver128MiBIsRefusedEvenForAFrameWholeInOneCall) {
  Bytes frame = to_bytes("\x28\xb5\x2f\xfd");
  frame.push_back(std::byte{0x80});             // Frame_Header_Descriptor: 4-byte FCS, not single segment
  frame.push_back(std::byte{(28 - 10) << 3});   // Window_Descriptor: 2^28
  frame.insert(frame.end(), 4, std::byte{0});   // Frame_Content_Size: 0
  for (unsigned char b : {0x01, 0x00, 0x00}) frame.push_back(std::byte{b});  // last raw block, size 0
  for (std::size_t in_step : {kWhole, std::size_t{1}}) {
    const core::Error e = error_from([&] { decode_all(Compression::zstd, frame, in_step); });
    EXPECT_EQ(e.kind(), ErrorKind::unsupported) << "in steps of " << in_step;
    EXPECT_TRUE(contains(e, "window over 128 MiB")) << e.what();
  }
}

// Decoded in one pass, a frame whose content differs from its header's
// Frame_Content_Size is corrupt; streamed, libzstd let one with an empty
// last block pass (found by tests/fuzz/decoder_fuzz.cpp).
TEST(ZstdDecoder, ContentSizeMismatchIsCorruptWhateverTheSplit) {
  Bytes frame = to_bytes("\x28\xb5\x2f\xfd");
  frame.push_back(std::byte{0x60});  // Frame_Header_Descriptor: 2-byte FCS, single segment
  frame.push_back(std::byte{0x00});  // Frame_Content_Size: 0 + 256
  frame.push_back(std::byte{0x00});
  for (unsigned char b : {0x01, 0x00, 0x00}) frame.push_back(std::byte{b});  // last raw block, size 0
  for (std::size_t in_step : {kWhole, std::size_t{1}}) {
    const core::Error e = error_from([&] { decode_all(Compression::zstd, frame, in_step, 1000); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_input) << "in steps of " << in_step;
    EXPECT_TRUE(contains(e, "zstd: corrupt stream in frame 1")) << e.what();
  }
}

// libzstd also decodes pre-RFC 8878 frames (magic 0xFD2FB526 here), but
// only when their whole magic arrives at once.
TEST(ZstdDecoder, LegacyFramesAreRefusedWhateverTheSplit) {
  const Bytes stream = concat({run_filter("zstd -q -c", to_bytes("data\n")), to_bytes("\x26\xb5\x2f\xfd\x4d")});
  for (std::size_t in_step : {kWhole, std::size_t{1}}) {
    const core::Error e = error_from([&] { decode_all(Compression::zstd, stream, in_step); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_input) << "in steps of " << in_step;
    EXPECT_TRUE(contains(e, "trailing garbage after zstd stream (1 complete frames, then: no RFC 8878 frame magic)"))
        << e.what();
  }
}

// ---- identity and all ---------------------------------------------------------

TEST(IdentityDecoder, CopiesAndIsFinishedOnceFed) {
  DecoderPtr decoder = make_decoder(Compression::none);
  EXPECT_FALSE(decoder->finished());
  const Bytes data = to_bytes("0123456789");
  Bytes out(4);
  const DecodeStep step = decoder->decode(data, out);
  EXPECT_EQ(step.consumed, 4u);
  EXPECT_EQ(step.produced, 4u);
  EXPECT_EQ(out, to_bytes("0123"));
  EXPECT_TRUE(decoder->finished());
}

TEST(Decoders, StayFinishedWhenCalledAgainWithNothing) {
  for (const Source& source : kSources) {
    DecoderPtr decoder = make_decoder(source.compression);
    decode_all(*decoder, compressed(source), kWhole, 1 << 20);
    Bytes room(4096);
    // zstd fails a stream after 16 calls without progress; the decoder must
    // not pass such calls through when it is between frames.
    for (int i = 0; i < 32; ++i) {
      const DecodeStep step = decoder->decode({}, room);
      EXPECT_EQ(step.consumed + step.produced, 0u) << source.name;
    }
    EXPECT_TRUE(decoder->finished()) << source.name;
  }
}

// Heap bytes in use now: ASan's own count under sanitizers, glibc's otherwise.
std::size_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

// 64 MiB of zeros from a few KiB: decoded through a 64 KiB buffer, memory
// stays what the codec needs (ISA-L's state; zstd's window, 2 MiB at level
// 3 without a known size) and does not grow while the output streams out.
TEST(Decoders, BombDecodesInFixedMemory) {
  constexpr std::size_t kBomb = 64 << 20;
  constexpr std::size_t kCodecBound = 8 << 20;
  const Source bombs[] = {{"gzip", Compression::gzip, "head -c 64M /dev/zero | gzip -c -9 -n"},
                          {"zstd", Compression::zstd, "head -c 64M /dev/zero | zstd -q -c -3"}};
  static const Bytes zeros(64 << 10);
  for (const Source& bomb : bombs) {
    const Bytes in = run_filter(bomb.command);
    ASSERT_LT(in.size(), kBomb / 500) << bomb.name;

    const std::size_t before = heap_in_use();
    DecoderPtr decoder = make_decoder(bomb.compression);
    Bytes room(zeros.size());
    std::size_t consumed = 0;
    std::size_t produced = 0;
    std::size_t after_first = 0;
    for (;;) {
      const auto window = std::span(in).subspan(consumed, std::min<std::size_t>(1 << 20, in.size() - consumed));
      const DecodeStep step = decoder->decode(window, room);
      if (after_first == 0) after_first = heap_in_use();
      ASSERT_LE(heap_in_use(), after_first) << bomb.name << " grew at output byte " << produced;
      ASSERT_EQ(std::memcmp(room.data(), zeros.data(), step.produced), 0);
      consumed += step.consumed;
      produced += step.produced;
      if (step.consumed == 0 && step.produced == 0) break;
    }
    EXPECT_TRUE(decoder->finished()) << bomb.name;
    EXPECT_EQ(produced, kBomb) << bomb.name;
    EXPECT_LT(after_first - before, kCodecBound) << bomb.name;
  }
}

// ---- check_magic ----------------------------------------------------------------

const Bytes kGzipHead = to_bytes("\x1f\x8b\x08\x00"sv);
const Bytes kZstdHead = to_bytes("\x28\xb5\x2f\xfd");
const Bytes kSkippableHead = to_bytes("\x5e\x2a\x4d\x18");
const Bytes kTarHead = to_bytes("etc/passwd");

TEST(CheckMagic, AgreeingBytesPass) {
  EXPECT_NO_THROW(check_magic(Compression::gzip, kGzipHead));
  EXPECT_NO_THROW(check_magic(Compression::zstd, kZstdHead));
  EXPECT_NO_THROW(check_magic(Compression::zstd, kSkippableHead));
  EXPECT_NO_THROW(check_magic(Compression::none, kTarHead));
}

TEST(CheckMagic, ShortHeadsAreComparedAsFarAsTheyGo) {
  EXPECT_NO_THROW(check_magic(Compression::gzip, std::span(kGzipHead).first(1)));
  EXPECT_NO_THROW(check_magic(Compression::zstd, std::span(kZstdHead).first(2)));
  EXPECT_NO_THROW(check_magic(Compression::gzip, {}));
  EXPECT_NO_THROW(check_magic(Compression::none, std::span(kZstdHead).first(3)));
  EXPECT_THROW(check_magic(Compression::gzip, std::span(kZstdHead).first(1)), core::Error);
}

TEST(CheckMagic, OtherFormatsMagicIsNamed) {
  struct Case {
    Compression declared;
    std::span<const std::byte> head;
    std::string_view says;
  };
  const Case cases[] = {
      {Compression::gzip, kZstdHead, "layer declared gzip but its bytes are zstd (first bytes 28 b5 2f fd)"},
      {Compression::gzip, kTarHead, "layer declared gzip but its bytes have no gzip magic (first bytes 65 74 63 2f)"},
      {Compression::zstd, kGzipHead, "layer declared zstd but its bytes are gzip"},
      {Compression::zstd, kTarHead, "layer declared zstd but its bytes have no zstd magic"},
      {Compression::none, kGzipHead, "layer declared uncompressed but its bytes are gzip"},
      {Compression::none, kSkippableHead, "layer declared uncompressed but its bytes are zstd"},
      {Compression::none, std::span(kGzipHead).first(2), "layer declared uncompressed but its bytes are gzip"},
  };
  for (const Case& c : cases) {
    const core::Error e = error_from([&] { check_magic(c.declared, c.head); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_TRUE(contains(e, c.says)) << e.what();
  }
}

}  // namespace
}  // namespace gantry::unpack
