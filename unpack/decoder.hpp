#pragma once
// Layer decompression behind one small interface, one codec per file
// (decoder_gzip.cpp, decoder_zstd.cpp, decoder_identity.cpp). Decoders stream:
// they never need the whole blob, and their memory is fixed by the codec
// (ISA-L's inflate state, zstd's window), never by the layer size.

#include <cstddef>
#include <memory>
#include <span>

#include "core/media_types.hpp"

namespace gantry::unpack {

struct DecodeStep {
  std::size_t consumed = 0;  // input bytes used
  std::size_t produced = 0;  // output bytes written
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes from `in` into `out`; call again with the unconsumed rest of the
  // input and fresh room. Either consumes or produces something unless `in`
  // is empty (nothing left to flush) or `out` is; a call with empty `in`
  // flushes what the codec still holds. No allocation per call: the output
  // is only what fits in `out`, the rest waits in the codec's fixed state
  // (zstd allocates its window once, at the first frame header).
  // Throws Error(bad_input) naming the codec for corrupt data or bytes after
  // the end of the stream (a gzip stream of several members is one stream,
  // and so are concatenated zstd frames; anything after the last member
  // that is not another member is an error, as in Go's gzip reader that
  // containerd uses), and Error(unsupported) for a zstd frame whose window
  // exceeds 128 MiB. After a throw the decoder is spent.
  virtual DecodeStep decode(std::span<const std::byte> in, std::span<std::byte> out) = 0;
  // True once the stream ended cleanly and nothing of a next member or frame
  // has been read (gzip: the last member's trailer, CRC32 and ISIZE checked;
  // zstd: a frame's end, flushed; identity: once decode() was called, as
  // plain bytes have no end marker: a cut uncompressed layer is the tar
  // reader's to detect). The caller turns input that ends before this into a
  // "truncated" error.
  [[nodiscard]] virtual bool finished() const = 0;
};
using DecoderPtr = std::unique_ptr<Decoder>;

[[nodiscard]] DecoderPtr make_decoder(core::media_type::Compression compression);

// The media type decides the decoder; the bytes must agree. Throws
// Error(bad_input) when the first bytes of a blob carry another format's
// magic (gzip 1f 8b, zstd 28 b5 2f fd or a skippable frame's 5? 2a 4d 18)
// than the declared one, or no magic when one is declared. `head` may be
// shorter than a magic (a short first chunk): only the bytes present are
// compared, and the decoder checks the rest as they arrive.
void check_magic(core::media_type::Compression declared, std::span<const std::byte> head);

}  // namespace gantry::unpack
