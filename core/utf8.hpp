#pragma once
// UTF-8 as RFC 3629 defines it, for text from outside (an env file, the
// names a registry sends): no overlong form, no surrogate, nothing past
// U+10FFFF.

#include <cstddef>
#include <string_view>

namespace gantry::core {

// The length of the well-formed sequence `text` starts with (1 to 4), or 0
// when it starts with none (or is empty).
[[nodiscard]] std::size_t utf8_sequence_length(std::string_view text) noexcept;

// Whether all of `text` is well-formed UTF-8.
[[nodiscard]] bool is_utf8(std::string_view text) noexcept;

}  // namespace gantry::core
