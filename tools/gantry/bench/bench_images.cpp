#include "tools/gantry/bench/bench_images.hpp"

#include <cstdlib>
#include <fstream>
#include <set>

#include "core/error.hpp"
#include "core/reference.hpp"

namespace gantry::tools::bench {
namespace {

using core::Error;
using core::ErrorKind;

constexpr std::size_t kMaxLine = 16384;

// ${NAME} at `text`[i] (i at the '$'): appends its value, returns the index after '}'.
std::size_t expand_variable(std::string_view text, std::size_t i, std::string& word) {
  const std::size_t close = text.find('}', i);
  if (close == std::string_view::npos) throw Error(ErrorKind::bad_input, "an unclosed ${");
  const std::string name(text.substr(i + 2, close - i - 2));
  if (name.empty() || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                          std::string::npos) {
    throw Error(ErrorKind::bad_input, "not a variable name: ${" + name + "}");
  }
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) throw Error(ErrorKind::bad_input, "${" + name + "} is not set");
  word += value;
  return close + 1;
}

std::string default_name(const core::Reference& ref) {
  const std::string& repository = ref.repository;
  return repository.substr(repository.rfind('/') + 1);
}

BenchImage image_from(const std::vector<std::string>& words, std::string_view where) {
  const ParsedArgs args = parse_args("bench", kImageOptions, words);
  if (args.positionals().size() != 1 || args.help()) {
    throw Error(ErrorKind::bad_input,
                std::string(where) + ": expected [--name NAME] [--ready SPEC] REF [-- CMD ARG...]");
  }
  BenchImage image;
  const core::Reference ref = core::Reference::parse(args.positionals().front());
  image.reference = args.positionals().front();
  image.name = args.value("name").value_or(default_name(ref));
  // The name names the image's picture, NAME.svg, in the output directory.
  if (image.name.empty() || image.name.front() == '.' ||
      image.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
          std::string::npos) {
    throw Error(ErrorKind::bad_input, std::string(where) + ": a name is letters, digits, '.', '_' and '-', got \"" +
                                          image.name + "\"");
  }
  image.command = args.rest();
  if (args.has_rest_separator() && image.command.empty()) {
    throw Error(ErrorKind::bad_input, std::string(where) + ": no command after --");
  }
  image.ready = parse_readiness(args.value("ready").value_or("exit"));
  return image;
}

std::vector<BenchImage> suite_images(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw Error(ErrorKind::bad_input, "gantry bench: cannot read the suite", {.path = path});
  std::vector<BenchImage> images;
  std::string line;
  for (std::size_t number = 1; std::getline(file, line); ++number) {
    const std::string where = path + ":" + std::to_string(number);
    if (line.size() > kMaxLine) throw Error(ErrorKind::bad_input, where + ": line too long");
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    if (images.size() == kMaxSuiteImages) {
      throw Error(ErrorKind::bad_input, where + ": more than " + std::to_string(kMaxSuiteImages) + " images");
    }
    try {
      images.push_back(image_from(split_words(line), where));
    } catch (const Error& e) {
      const std::string message = e.what();
      if (message.starts_with(where)) throw;
      throw Error(ErrorKind::bad_input, where + ": " + message);
    }
  }
  if (images.empty()) throw Error(ErrorKind::bad_input, "gantry bench: no image in the suite", {.path = path});
  return images;
}

}  // namespace

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size();) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const std::size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) throw Error(ErrorKind::bad_input, "an unclosed '");
      word += line.substr(i + 1, close - i - 1);
      i = close + 1;
    } else if (c == '"') {
      for (++i;; ) {
        if (i >= line.size()) throw Error(ErrorKind::bad_input, "an unclosed \"");
        if (line[i] == '"') break;
        if (line[i] == '\\' && i + 1 < line.size() && std::string_view("\"\\$").find(line[i + 1]) != std::string_view::npos) {
          word += line[i + 1];
          i += 2;
        } else if (line.substr(i, 2) == "${") {
          i = expand_variable(line, i, word);
        } else {
          word += line[i++];
        }
      }
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) throw Error(ErrorKind::bad_input, "a backslash at the end of the line");
      word += line[i + 1];
      i += 2;
    } else if (line.substr(i, 2) == "${") {
      i = expand_variable(line, i, word);
    } else {
      word += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::vector<BenchImage> bench_images(const ParsedArgs& args) {
  std::vector<BenchImage> images;
  if (auto suite = args.value("file")) {
    if (!args.positionals().empty() || args.has_rest_separator() || args.value("name") || args.value("ready")) {
      throw Error(ErrorKind::bad_input, "gantry bench: -f SUITE or REF [-- CMD ARG...], not both");
    }
    images = suite_images(*suite);
  } else {
    std::vector<std::string> words;
    for (const std::string_view name : {"name", "ready"}) {
      if (auto value = args.value(name)) words.insert(words.end(), {"--" + std::string(name), *value});
    }
    words.insert(words.end(), args.positionals().begin(), args.positionals().end());
    if (args.has_rest_separator()) {
      words.push_back("--");
      words.insert(words.end(), args.rest().begin(), args.rest().end());
    }
    images.push_back(image_from(words, "gantry bench"));
  }
  std::set<std::string> names;
  for (const BenchImage& image : images) {
    if (!names.insert(image.name).second) {
      throw Error(ErrorKind::bad_input, "gantry bench: two images named " + image.name + " (give --name)");
    }
  }
  return images;
}

}  // namespace gantry::tools::bench
