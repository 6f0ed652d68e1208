#include "tools/gantry/env_file.hpp"

#include <cerrno>
#include <fstream>
#include <string_view>

#include "core/error.hpp"
#include "core/utf8.hpp"

namespace gantry::tools {

namespace {

using core::Error;
using core::ErrorKind;

constexpr std::string_view kWhitespace = " \t\n\v\f\r";

}  // namespace

std::vector<std::string> read_env_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw core::errno_error(errno, "cannot read the env file", file.string());
  std::vector<std::string> variables;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto bad = [&](const std::string& what) {
      return Error(ErrorKind::bad_input, "env file line " + std::to_string(number) + ": " + what,
                   {.path = file.string()});
    };
    if (!core::is_utf8(line)) throw bad("bytes that are not UTF-8");
    std::string_view text = line;
    if (text.ends_with('\r')) text.remove_suffix(1);  // a CRLF line ends as a LF one (as Go's line scanner)
    if (number == 1 && text.starts_with("\xef\xbb\xbf")) text.remove_prefix(3);
    const std::size_t start = text.find_first_not_of(kWhitespace);
    if (start == std::string_view::npos || text[start] == '#') continue;
    text.remove_prefix(start);
    const std::string_view name = text.substr(0, text.find('='));
    if (name.find_first_of(kWhitespace) != std::string_view::npos) {
      throw bad("variable '" + std::string(name) + "' contains whitespace");
    }
    if (name.empty()) throw bad("no variable name");
    variables.emplace_back(text);
  }
  if (in.bad()) throw core::errno_error(errno, "cannot read the env file", file.string());
  return variables;
}

}  // namespace gantry::tools
