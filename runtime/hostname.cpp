#include "runtime/hostname.hpp"

#include <string>

#include "core/error.hpp"

namespace gantry::runtime {

namespace {

constexpr std::size_t kMaxLabelLength = 63;

bool is_letter_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool is_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!is_letter_or_digit(c) && c != '-') return false;
  }
  return true;
}

}  // namespace

void check_hostname(std::string_view name) {
  bool valid = !name.empty() && name.size() <= kMaxHostnameLength;
  for (std::string_view rest = name; valid;) {
    const auto dot = rest.find('.');
    valid = is_label(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (!valid) {
    // The name itself is not repeated: it may hold the very newline refused.
    throw core::Error(core::ErrorKind::bad_input,
                      "--hostname: want an RFC 1123 name: dot-separated labels of 1 to 63 letters, digits and "
                      "hyphens (not first or last), at most " + std::to_string(kMaxHostnameLength) + " characters");
  }
}

}  // namespace gantry::runtime
