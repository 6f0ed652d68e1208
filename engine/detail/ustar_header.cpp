#include "engine/detail/ustar_header.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace gantry::engine::detail {
namespace {

void octal(char* field, std::size_t width, std::uint64_t value) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(value));
}

void size_field(char* field, std::int64_t size) {
  constexpr std::int64_t kOctalLimit = std::int64_t{1} << 33;  // 11 octal digits
  if (size < kOctalLimit) {
    octal(field, 12, static_cast<std::uint64_t>(size));
    return;
  }
  field[0] = static_cast<char>(0x80);
  auto value = static_cast<std::uint64_t>(size);
  for (int i = 11; i >= 1; --i, value >>= 8) field[i] = static_cast<char>(value & 0xff);
}

}  // namespace

std::array<char, kTarBlock> ustar_header(std::string_view name, char type, std::int64_t size, unsigned mode) {
  if (name.size() >= 100) throw std::logic_error("ustar_header: a name of 100 bytes or more");
  std::array<char, kTarBlock> h{};
  std::memcpy(h.data(), name.data(), name.size());
  octal(h.data() + 100, 8, mode);
  octal(h.data() + 108, 8, 0);  // uid
  octal(h.data() + 116, 8, 0);  // gid
  size_field(h.data() + 124, size);
  octal(h.data() + 136, 12, 0);  // mtime: the archive depends on the images only
  h[156] = type;
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  std::memset(h.data() + 148, ' ', 8);  // the checksum counts its own field as spaces
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(h.data() + 148, 8, "%06o", sum);  // six digits, NUL, then the space kept
  return h;
}

}  // namespace gantry::engine::detail
