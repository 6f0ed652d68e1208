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
// bytes, and two libzstd shortcuts made it so (found by tests/fuzz), so the
// first bytes of every frame are checked here as well:
// - a frame that is whole in one call's input (and fits the output) is
//   decoded in one pass, needing no window and not checking the cap: the cap
//   is checked here whenever a frame's header is whole at its first byte;
// - Debian builds libzstd with ZSTD_LEGACY_SUPPORT, which decodes pre-1.0
//   frames (magics 0xFD2FB51E-27) when their whole magic arrives at once,
//   while one byte of it alone is "unknown frame descriptor": only RFC 8878's
//   frame and skippable-frame magics are accepted (the layer media type's
//   format; Go's klauspost/compress, which containerd uses, has no legacy).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
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
    if (!in_frame_) check_frame_start(in);
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    ZSTD_outBuffer dst{out.data(), out.size(), 0};
    const std::size_t rc = ZSTD_decompressStream(dctx_.get(), &dst, &src);
    consumed_total_ += src.pos;
    if (ZSTD_isError(rc)) fail(rc);
    if (rc == 0) {  // a frame decoded and flushed completely
      in_frame_ = false;
      ++frames_;
    } else if (src.pos != 0) {
      in_frame_ = true;
    }
    return {src.pos, dst.pos};
  }

  // `in` starts a frame (and is not empty).
  void check_frame_start(std::span<const std::byte> in) const {
    const auto first = std::to_integer<std::uint8_t>(in.front());
    if (first != detail::kZstdMagic[0] && (first & detail::kZstdSkippableMask[0]) != detail::kZstdSkippableMagic[0]) {
      not_a_frame("no RFC 8878 frame magic");
    }
    // Non-zero: the header is not whole yet, or is malformed (libzstd says how).
    ZSTD_frameHeader header;
    if (ZSTD_getFrameHeader(&header, in.data(), in.size()) == 0 && header.frameType == ZSTD_frame &&
        header.windowSize > (std::uint64_t{1} << kWindowLogMax)) {
      window_too_large("frame header asks for " + std::to_string(header.windowSize >> 20) + " MiB");
    }
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
  std::uint64_t frames_ = 0;  // frames (skippable ones included) complete
  std::uint64_t consumed_total_ = 0;
};

}  // namespace

DecoderPtr detail::make_zstd_decoder() { return std::make_unique<ZstdDecoder>(); }

}  // namespace gantry::unpack
