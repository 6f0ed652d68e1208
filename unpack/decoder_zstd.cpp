// zstd layers (RFC 8878) through ZSTD_decompressStream. Frames may follow
// one another, and skippable frames may sit among them, as `zstd -d`
// accepts; the library checks each frame's optional content checksum.
//
// Memory is the frame's window plus two blocks, allocated once when a frame
// header asks for it and reused by later frames. The window a frame may ask
// for is capped at 2^27 = 128 MiB (ZSTD_d_windowLogMax): every level up to
// --ultra -22 fits in it, `zstd -d` refuses more without --memory, and it
// bounds what a hostile frame header can make each layer allocate. Frames
// written with --long=28 or more are refused as unsupported.
//
// Whether a layer is refused must not depend on how the network split its
// bytes, and libzstd's shortcuts made it so (found by tests/fuzz), so every
// frame's header is read here as well:
// - a frame that is whole in one call's input (and fits the output) is
//   decoded in one pass, needing no window and not checking the cap: the cap
//   is checked here before each call, on the header bytes so far;
// - in that pass a frame whose content differs from its header's
//   Frame_Content_Size is corrupt, while streaming lets one with an empty
//   last block pass: the size is compared here at every frame's end;
// - Debian builds libzstd with ZSTD_LEGACY_SUPPORT, which decodes pre-1.0
//   frames (magics 0xFD2FB51E-27) when their whole magic arrives at once,
//   while one byte of it alone is "unknown frame descriptor": only RFC 8878's
//   frame and skippable-frame magics are accepted (the layer media type's
//   format; Go's klauspost/compress, which containerd uses, has no legacy).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader (exported by Debian's libzstd.so)
#include <zstd.h>
#include <zstd_errors.h>

#include "core/error.hpp"
#include "unpack/decoder.hpp"
#include "unpack/detail/codecs.hpp"
#include "unpack/detail/magic.hpp"
#include "unpack/detail/step_loop.hpp"

namespace gantry::unpack {
namespace {

constexpr int kWindowLogMax = 27;

struct FreeDctx {
  void operator()(ZSTD_DCtx* dctx) const noexcept { ZSTD_freeDCtx(dctx); }
};
using DctxPtr = std::unique_ptr<ZSTD_DCtx, FreeDctx>;

class ZstdDecoder final : public Decoder {
 public:
  ZstdDecoder() : dctx_(ZSTD_createDCtx()) {
    if (!dctx_) throw std::bad_alloc();
    const std::size_t rc = ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_windowLogMax, kWindowLogMax);
    if (ZSTD_isError(rc)) {
      throw core::Error(core::ErrorKind::unsupported,
                        std::string("zstd: cannot set the window limit: ") + ZSTD_getErrorName(rc));
    }
  }

  DecodeStep decode(std::span<const std::byte> in, std::span<std::byte> out) override {
    return detail::step_until_stalled(in, out, [this](auto i, auto o) { return step(i, o); });
  }

  [[nodiscard]] bool finished() const override { return !in_frame_ && frames_ > 0; }

 private:
  // One ZSTD_decompressStream call; it returns at the end of a frame.
  DecodeStep step(std::span<const std::byte> in, std::span<std::byte> out) {
    // Between frames with nothing to read there is nothing to flush either;
    // calling anyway would count toward zstd's "no forward progress" error.
    if (in.empty() && !in_frame_) return {};
    if (!in_frame_) check_first_byte(std::to_integer<std::uint8_t>(in.front()));
    if (!header_) check_window(in);
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    ZSTD_outBuffer dst{out.data(), out.size(), 0};
    const std::size_t rc = ZSTD_decompressStream(dctx_.get(), &dst, &src);
    consumed_total_ += src.pos;
    if (ZSTD_isError(rc)) fail(rc);
    if (!header_) read_header(in.first(src.pos));
    frame_produced_ += dst.pos;
    if (rc == 0) {  // a frame decoded and flushed completely
      end_frame();
    } else if (src.pos != 0) {
      in_frame_ = true;
    }
    return {src.pos, dst.pos};
  }

  void check_first_byte(std::uint8_t first) const {
    if (first != detail::kZstdMagic[0] && (first & detail::kZstdSkippableMask[0]) != detail::kZstdSkippableMagic[0]) {
      not_a_frame("no RFC 8878 frame magic");
    }
  }

  // The frame's header: the bytes kept so far, then `more`. nullopt while
  // it is not whole, or malformed (libzstd says how).
  [[nodiscard]] std::optional<ZSTD_frameHeader> parse_header(std::span<const std::byte> more) const {
    std::array<std::byte, ZSTD_FRAMEHEADERSIZE_MAX> bytes = header_bytes_;
    const std::size_t n = std::min(more.size(), bytes.size() - header_size_);
    std::copy_n(more.begin(), n, bytes.begin() + static_cast<std::ptrdiff_t>(header_size_));
    ZSTD_frameHeader header;
    if (ZSTD_getFrameHeader(&header, bytes.data(), header_size_ + n) != 0) return std::nullopt;
    return header;
  }

  // Before libzstd sees `in`: the window cap.
  void check_window(std::span<const std::byte> in) const {
    const auto header = parse_header(in);
    if (header && header->frameType == ZSTD_frame && header->windowSize > (std::uint64_t{1} << kWindowLogMax)) {
      window_too_large("frame header asks for " + std::to_string(header->windowSize >> 20) + " MiB");
    }
  }

  // After libzstd consumed `consumed`: keeps what belongs to the header.
  void read_header(std::span<const std::byte> consumed) {
    header_ = parse_header(consumed);
    const std::size_t n = std::min(consumed.size(), header_bytes_.size() - header_size_);
    std::copy_n(consumed.begin(), n, header_bytes_.begin() + static_cast<std::ptrdiff_t>(header_size_));
    header_size_ += n;
  }

  void end_frame() {
    if (header_ && header_->frameType == ZSTD_frame && header_->frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN &&
        frame_produced_ != header_->frameContentSize) {
      throw core::Error(core::ErrorKind::bad_input,
                        "zstd: corrupt stream in frame " + std::to_string(frames_ + 1) + ": it holds " +
                            std::to_string(frame_produced_) + " bytes, its header says " +
                            std::to_string(header_->frameContentSize));
    }
    in_frame_ = false;
    ++frames_;
    header_.reset();
    header_size_ = 0;
    frame_produced_ = 0;
  }

  [[noreturn]] void window_too_large(const std::string& why) const {
    throw core::Error(core::ErrorKind::unsupported, "zstd: frame " + std::to_string(frames_ + 1) +
                                                        " needs a window over " +
                                                        std::to_string((1u << kWindowLogMax) >> 20) + " MiB: " + why);
  }

  // Bytes where a frame should start are of no known kind.
  [[noreturn]] void not_a_frame(const std::string& why) const {
    if (frames_ > 0) {
      throw core::Error(core::ErrorKind::bad_input, "zstd: trailing garbage after zstd stream (" +
                                                        std::to_string(frames_) + " complete frames, then: " + why + ")");
    }
    throw core::Error(core::ErrorKind::bad_input, "zstd: not a zstd stream: " + why);
  }

  [[noreturn]] void fail(std::size_t rc) const {
    const std::string name = ZSTD_getErrorName(rc);
    switch (ZSTD_getErrorCode(rc)) {
      case ZSTD_error_frameParameter_windowTooLarge:
        window_too_large(name);
      case ZSTD_error_prefix_unknown:
        // Only the first bytes of a frame can be of no known kind.
        not_a_frame(name);
      default:
        throw core::Error(core::ErrorKind::bad_input, "zstd: corrupt stream in frame " +
                                                          std::to_string(frames_ + 1) + " near compressed byte " +
                                                          std::to_string(consumed_total_) + ": " + name);
    }
  }

  DctxPtr dctx_;
  bool in_frame_ = false;     // bytes of a frame read, its end not yet
  // The current frame's header as its bytes arrive (libzstd keeps them to
  // itself), parsed once whole, and the bytes the frame decoded to so far.
  std::array<std::byte, ZSTD_FRAMEHEADERSIZE_MAX> header_bytes_{};
  std::size_t header_size_ = 0;
  std::optional<ZSTD_frameHeader> header_;
  std::uint64_t frame_produced_ = 0;
  std::uint64_t frames_ = 0;  // frames (skippable ones included) complete
  std::uint64_t consumed_total_ = 0;
};

}  // namespace

DecoderPtr detail::make_zstd_decoder() { return std::make_unique<ZstdDecoder>(); }

}  // namespace gantry::unpack
