#include "tools/gantry/registry_config.hpp"

#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "registry/hosts_config.hpp"

namespace gantry::tools {

std::optional<std::filesystem::path> config_dir(const ParsedArgs& args) {
  std::string given;
  std::string source;
  if (auto dir = args.value("config")) {
    given = *dir;
    source = "--config";
  } else if (const char* env = std::getenv("GANTRY_CONFIG"); env != nullptr && *env != '\0') {
    given = env;
    source = "$GANTRY_CONFIG";
  }
  std::error_code ec;
  if (given.empty()) {
    if (!std::filesystem::exists(kDefaultConfigDir, ec)) return std::nullopt;
    given = kDefaultConfigDir;
    source = "the configuration directory";
  }
  if (!std::filesystem::is_directory(given, ec)) {
    throw core::Error(core::ErrorKind::bad_input, source + ": no such directory", core::ErrorContext{.path = given});
  }
  return std::filesystem::path(given);
}

registry::Options configured_registry_options(const ParsedArgs& args) {
  std::optional<std::filesystem::path> dir = config_dir(args);
  return dir ? registry::load_config(*dir) : registry::Options{};
}

}  // namespace gantry::tools
