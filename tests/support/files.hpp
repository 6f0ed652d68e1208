#pragma once
// Whole-file reads and writes for tests (never for gantry itself, which
// streams everything).

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace gantry::testing {

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace gantry::testing
