#include "registry/detail/content_range.hpp"

#include <charconv>

namespace gantry::registry::detail {

namespace {

bool take_number(std::string_view& s, std::int64_t& out) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{}) return false;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return true;
}

bool take(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

}  // namespace

std::optional<ContentRange> parse_content_range(std::string_view value) {
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (!value.starts_with("bytes ")) return std::nullopt;
  value.remove_prefix(6);
  ContentRange range;
  if (!take_number(value, range.first) || !take(value, '-') || !take_number(value, range.last) ||
      !take(value, '/')) {
    return std::nullopt;
  }
  if (value == "*") {
    value = {};
  } else {
    std::int64_t length = 0;
    if (!take_number(value, length)) return std::nullopt;
    range.complete_length = length;
  }
  if (!value.empty() || range.last < range.first) return std::nullopt;
  if (range.complete_length && range.last >= *range.complete_length) return std::nullopt;
  return range;
}

}  // namespace gantry::registry::detail
