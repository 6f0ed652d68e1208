#pragma once
// docker run's --env-file: one variable per line, KEY=VALUE taken verbatim
// (no quotes removed, no expansion) or KEY alone (the caller's value, as -e
// KEY); leading whitespace is trimmed, empty lines and lines starting with
// '#' skipped, a UTF-8 byte order mark at the start and a CR before the
// line's end dropped.

#include <filesystem>
#include <string>
#include <vector>

namespace gantry::tools {

// The file's variables, in order, as -e takes them. Error(bad_input) naming
// the file and line for a name with whitespace, a line with no name, or
// bytes that are not UTF-8; Error(io) when it cannot be read.
[[nodiscard]] std::vector<std::string> read_env_file(const std::filesystem::path& file);

}  // namespace gantry::tools
