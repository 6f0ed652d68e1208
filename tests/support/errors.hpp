#pragma once
// The gantry error a callable throws, if any, so tests can assert on its kind
// and context without a try/catch each.

#include <optional>
#include <utility>

#include "core/error.hpp"

namespace gantry::testing {

template <class F>
std::optional<core::Error> error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const core::Error& e) {
    return e;
  }
  return std::nullopt;
}

}  // namespace gantry::testing
