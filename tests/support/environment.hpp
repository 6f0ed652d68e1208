#pragma once
// Environment variables a test sets freely: unset on construction, each
// restored to what it was (or unset again) on destruction.

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gantry::testing {

class ScopedEnvironment {
 public:
  template <class Names>
  explicit ScopedEnvironment(const Names& names) {
    for (const char* name : names) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

}  // namespace gantry::testing
