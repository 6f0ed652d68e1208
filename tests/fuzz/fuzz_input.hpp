#pragma once
// What every fuzz target shares: the input as text, and the rule that a
// parser of hostile input may throw only gantry's own core::Error (anything
// else escaping, like a JSON library's exception or std::out_of_range, is a
// bug the fuzzer reports as a crash, and so is a broken invariant).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "core/error.hpp"

namespace gantry::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline std::span<const std::byte> bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

// Calls `parse`; a core::Error is the parser's answer to bad input.
template <typename Parse>
void expect_only_gantry_errors(Parse&& parse) {
  try {
    parse();
  } catch (const core::Error&) {
  }
}

// A property of a parser's result that must hold for every input.
inline void require(bool holds, const char* what) {
  if (!holds) {
    std::fprintf(stderr, "fuzz: broken invariant: %s\n", what);
    std::abort();
  }
}

}  // namespace gantry::fuzz
