#include "unpack/decoder.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "unpack/detail/codecs.hpp"
#include "unpack/detail/magic.hpp"

namespace gantry::unpack {

using core::media_type::Compression;

DecoderPtr make_decoder(Compression compression) {
  switch (compression) {
    case Compression::gzip: return detail::make_gzip_decoder();
    case Compression::zstd: return detail::make_zstd_decoder();
    case Compression::none: return detail::make_identity_decoder();
  }
  throw core::Error(core::ErrorKind::unsupported, "no decoder for this layer compression");
}

namespace {

// Whether `head` starts with a magic: all of it, only as much of it as `head`
// holds, or not at all.
enum class Match { no, prefix, yes };

Match match(std::span<const std::uint8_t> magic, std::span<const std::byte> head,
            std::span<const std::uint8_t> mask = {}) {
  const std::size_t n = std::min(magic.size(), head.size());
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t bits = mask.empty() ? 0xff : mask[i];
    if ((std::to_integer<std::uint8_t>(head[i]) & bits) != magic[i]) return Match::no;
  }
  return head.size() >= magic.size() ? Match::yes : Match::prefix;
}

Match match_gzip(std::span<const std::byte> head) { return match(detail::kGzipMagic, head); }

Match match_zstd(std::span<const std::byte> head) {
  const Match frame = match(detail::kZstdMagic, head);
  const Match skippable = match(detail::kZstdSkippableMagic, head, detail::kZstdSkippableMask);
  return std::max(frame, skippable);  // the better of the two
}

// Up to four bytes in hex: what a user needs to recognise the format, and
// nothing of hostile input that could drive a terminal.
std::string first_bytes(std::span<const std::byte> head) {
  if (head.empty()) return "no bytes";
  std::string out = "first bytes";
  for (std::byte b : head.first(std::min<std::size_t>(head.size(), 4))) {
    char hex[4];
    std::snprintf(hex, sizeof hex, " %02x", std::to_integer<unsigned>(b));
    out += hex;
  }
  return out;
}

[[noreturn]] void mismatch(Compression declared, std::string_view actual, std::span<const std::byte> head) {
  const std::string name = declared == Compression::none ? "uncompressed" : std::string(to_string(declared));
  throw core::Error(core::ErrorKind::bad_input,
                    "layer declared " + name + " but its bytes " + std::string(actual) + " (" + first_bytes(head) + ")");
}

}  // namespace

void check_magic(Compression declared, std::span<const std::byte> head) {
  const Match gzip = match_gzip(head);
  const Match zstd = match_zstd(head);
  switch (declared) {
    case Compression::gzip:
      if (gzip == Match::no) mismatch(declared, zstd == Match::yes ? "are zstd" : "have no gzip magic", head);
      return;
    case Compression::zstd:
      if (zstd == Match::no) mismatch(declared, gzip == Match::yes ? "are gzip" : "have no zstd magic", head);
      return;
    case Compression::none:
      // A tar starts with an entry name; none begins with these bytes.
      if (gzip == Match::yes) mismatch(declared, "are gzip", head);
      if (zstd == Match::yes) mismatch(declared, "are zstd", head);
      return;
  }
}

}  // namespace gantry::unpack
