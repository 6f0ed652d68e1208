#include "registry/detail/chunked_decoder.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.hpp"

namespace gantry::registry::detail {

namespace {

// Limits against a server that streams framing forever.
constexpr int kMaxSizeDigits = 15;  // 60 bits: no overflow
constexpr std::size_t kMaxLine = 4096;
constexpr std::size_t kMaxTrailers = 64 * 1024;

[[noreturn]] void malformed(const std::string& why) {
  throw core::Error(core::ErrorKind::network, "malformed chunked encoding: " + why);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

ChunkedDecoder::Result ChunkedDecoder::decode(std::span<std::byte> buffer) {
  std::size_t in = 0;
  std::size_t out = 0;
  while (in < buffer.size() && state_ != State::done) {
    if (state_ == State::data) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, buffer.size() - in));
      if (out != in) std::memmove(buffer.data() + out, buffer.data() + in, n);
      out += n;
      in += n;
      chunk_left_ -= n;
      if (chunk_left_ == 0) state_ = State::data_cr;
      continue;
    }
    char c = static_cast<char>(buffer[in++]);
    switch (state_) {
      case State::size: {
        int v = hex_value(c);
        if (v >= 0) {
          if (++size_digits_ > kMaxSizeDigits) malformed("chunk size too large");
          chunk_left_ = chunk_left_ * 16 + static_cast<std::uint64_t>(v);
        } else if (size_digits_ == 0) {
          malformed("chunk size expected");
        } else if (c == '\r') {
          state_ = State::size_lf;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::extension;  // chunk extensions are ignored (§7.1.1)
        } else {
          malformed("bad character in chunk size");
        }
        break;
      }
      case State::extension:
        if (++line_bytes_ > kMaxLine) malformed("chunk extension too long");
        if (c == '\r') state_ = State::size_lf;
        break;
      case State::size_lf:
        if (c != '\n') malformed("CR not followed by LF after chunk size");
        size_digits_ = 0;
        line_bytes_ = 0;
        state_ = chunk_left_ == 0 ? State::trailer_start : State::data;
        break;
      case State::data_cr:
        if (c != '\r') malformed("chunk data longer than its size");
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (c != '\n') malformed("CR not followed by LF after chunk data");
        state_ = State::size;
        break;
      case State::trailer_start:
        if (++trailer_bytes_ > kMaxTrailers) malformed("trailer section too long");
        state_ = c == '\r' ? State::trailer_lf : State::trailer_line;
        break;
      case State::trailer_line:
        if (++trailer_bytes_ > kMaxTrailers) malformed("trailer section too long");
        if (c == '\n') state_ = State::trailer_start;
        break;
      case State::trailer_lf:
        if (c != '\n') malformed("CR not followed by LF at the end of the trailers");
        state_ = State::done;
        break;
      case State::data:
      case State::done:
        break;
    }
  }
  return Result{.data = out, .consumed = in};
}

}  // namespace gantry::registry::detail
