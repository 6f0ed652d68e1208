#pragma once
// Content-Range of a 206 answer (RFC 9110 §14.4): which bytes came, so a
// resumed download is only appended to when they are the bytes it asked for.

#include <cstdint>
#include <optional>
#include <string_view>

namespace gantry::registry::detail {

struct ContentRange {
  std::int64_t first = 0;
  std::int64_t last = 0;                      // inclusive
  std::optional<std::int64_t> complete_length;  // "*" when unknown

  friend bool operator==(const ContentRange&, const ContentRange&) = default;
};

// "bytes FIRST-LAST/LENGTH" or "bytes FIRST-LAST/*"; nullopt for anything
// else, including the "bytes */LENGTH" of a 416 and ranges with last < first
// or last >= LENGTH.
[[nodiscard]] std::optional<ContentRange> parse_content_range(std::string_view value);

}  // namespace gantry::registry::detail
