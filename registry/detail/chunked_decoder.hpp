#pragma once
// HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), decoded in place: the
// body reader reads raw bytes into its big buffer and this moves the chunk
// data to the front of it, so a chunked body costs one memmove, not a copy
// through Beast's parser. Framing split across reads is carried in the state.

#include <cstddef>
#include <cstdint>
#include <span>

namespace gantry::registry::detail {

class ChunkedDecoder {
 public:
  struct Result {
    std::size_t data = 0;      // body bytes now at the front of the buffer
    std::size_t consumed = 0;  // input bytes used; less than given only once done()
  };

  // Decodes `buffer` (raw bytes that follow what earlier calls saw) in
  // place. Error(network) naming the fault for malformed framing.
  Result decode(std::span<std::byte> buffer);

  // The last chunk and the trailer section have been read.
  [[nodiscard]] bool done() const noexcept { return state_ == State::done; }

 private:
  enum class State { size, extension, size_lf, data, data_cr, data_lf, trailer_start, trailer_line, trailer_lf, done };

  State state_ = State::size;
  std::uint64_t chunk_left_ = 0;
  int size_digits_ = 0;
  std::size_t line_bytes_ = 0;     // of the current size or trailer line, bounded
  std::size_t trailer_bytes_ = 0;  // of the whole trailer section, bounded
};

}  // namespace gantry::registry::detail
