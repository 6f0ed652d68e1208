#pragma once
// Base64 (RFC 4648 §4) for Basic credentials and docker config.json's
// `auth` field.

#include <optional>
#include <string>
#include <string_view>

namespace gantry::registry::detail {

[[nodiscard]] std::string base64_encode(std::string_view bytes);
// Padding optional; whitespace and any other character make it invalid.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace gantry::registry::detail
