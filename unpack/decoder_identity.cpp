// Uncompressed layers (`application/vnd.oci.image.layer.v1.tar`): a copy.

#include <algorithm>

#include "unpack/decoder.hpp"
#include "unpack/detail/codecs.hpp"

namespace gantry::unpack {
namespace {

class IdentityDecoder final : public Decoder {
 public:
  DecodeStep decode(std::span<const std::byte> in, std::span<std::byte> out) override {
    called_ = true;
    const std::size_t n = std::min(in.size(), out.size());
    std::copy_n(in.begin(), n, out.begin());
    return {n, n};
  }

  // Plain bytes carry no end marker, so any length is a complete stream as
  // far as this layer of the pipeline can tell. Whether an uncompressed layer
  // was cut short is the tar reader's to say: it needs the end-of-archive
  // blocks and every entry's full size (and the diff ID check catches the
  // rest). True once decode() was called, so that a pipeline that never fed
  // the decoder does not pass for done.
  [[nodiscard]] bool finished() const override { return called_; }

 private:
  bool called_ = false;
};

}  // namespace

DecoderPtr detail::make_identity_decoder() { return std::make_unique<IdentityDecoder>(); }

}  // namespace gantry::unpack
