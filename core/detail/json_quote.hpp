#pragma once
// Quoting text taken from an image's JSON documents for an error message.
// Such text is untrusted and may be megabytes long: the message keeps a
// bounded prefix (core::Error already replaces control characters).

#include <cstddef>
#include <string>
#include <string_view>

namespace gantry::core::detail {

[[nodiscard]] inline std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 128;
  std::string out = "\"";
  out.append(text.substr(0, kMax));
  out += text.size() > kMax ? "...\"" : "\"";
  return out;
}

}  // namespace gantry::core::detail
