#include "tools/gantry/image_list.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#include "core/error.hpp"

namespace gantry::tools {
namespace {

using core::Error;
using core::ErrorKind;

constexpr std::size_t kMaxLineLength = 4096;

// The references of a list file, in order; Error(bad_input) naming the
// file and line of the first bad one.
void read_list(const std::string& path, std::vector<std::string>& texts) {
  std::ifstream file(path);
  if (!file) throw Error(ErrorKind::bad_input, "--file: cannot read the list", {.path = path});
  std::string line;
  for (std::size_t number = 1; std::getline(file, line); ++number) {
    const auto where = [&] { return path + ":" + std::to_string(number); };
    if (line.size() > kMaxLineLength) throw Error(ErrorKind::bad_input, where() + ": line too long");
    line.erase(std::min(line.find('#'), line.size()));
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    std::string text = line.substr(first, last - first + 1);
    if (text.find_first_of(" \t") != std::string::npos) {
      throw Error(ErrorKind::bad_input, where() + ": one reference per line, got \"" + text + "\"");
    }
    try {
      (void)core::Reference::parse(text);
    } catch (const Error& e) {
      throw Error(e.kind(), where() + ": " + e.what());
    }
    texts.push_back(std::move(text));
  }
  if (file.bad()) throw Error(ErrorKind::io, "--file: cannot read the list", {.path = path});
}

}  // namespace

std::vector<core::Reference> images_asked(const ParsedArgs& args, std::string_view command) {
  const std::string name = "gantry " + std::string(command);
  std::vector<std::string> texts(args.positionals());
  for (const std::string& path : args.values(kImageListOption.name)) read_list(path, texts);
  std::vector<core::Reference> refs;
  std::set<std::string> seen;
  for (const std::string& text : texts) {
    core::Reference ref = core::Reference::parse(text);
    if (seen.insert(ref.string()).second) refs.push_back(std::move(ref));
  }
  if (refs.empty()) {
    throw Error(ErrorKind::bad_input,
                name + ": no image given (REF... or -f FILE; see '" + name + " --help')");
  }
  if (refs.size() > kMaxImages) {
    throw Error(ErrorKind::bad_input, name + ": " + std::to_string(refs.size()) + " images, more than the " +
                                          std::to_string(kMaxImages) + " one run takes");
  }
  return refs;
}

}  // namespace gantry::tools
