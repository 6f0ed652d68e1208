#include "registry/detail/docker_config.hpp"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include <unistd.h>

#include "core/error.hpp"
#include "registry/detail/base64.hpp"

namespace gantry::registry::detail {

namespace {

using nlohmann::json;

constexpr std::string_view kDockerHub = "docker.io";
constexpr std::uintmax_t kMaxConfigFile = 4 * 1024 * 1024;

[[noreturn]] void bad_config(std::string_view origin, const std::string& why) {
  throw core::Error(core::ErrorKind::bad_input, "invalid credentials file: " + why,
                    core::ErrorContext{.path = std::string(origin)});
}

std::string string_field(const json& object, const char* name, std::string_view origin, const std::string& where) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) bad_config(origin, where + "." + name + " is not a string");
  return it->get<std::string>();
}

std::optional<Credentials> entry_credentials(const json& entry, std::string_view origin, const std::string& where) {
  if (!entry.is_object()) bad_config(origin, where + " is not an object");
  std::string auth = string_field(entry, "auth", origin, where);
  if (!auth.empty()) {
    std::optional<std::string> decoded = base64_decode(auth);
    auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) bad_config(origin, where + ".auth is not base64 of \"user:password\"");
    return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  }
  std::string username = string_field(entry, "username", origin, where);
  std::string password = string_field(entry, "password", origin, where);
  if (username.empty() && password.empty()) return std::nullopt;  // e.g. an entry a credsStore keeps
  return Credentials{std::move(username), std::move(password)};
}

bool is_file(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string read_config_file(const std::filesystem::path& path) {
  std::error_code ec;
  std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxConfigFile) bad_config(path.string(), "larger than 4 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Error(core::ErrorKind::io, "cannot read the credentials file", {.path = path.string()});
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string registry_key(std::string_view key) {
  if (auto sep = key.find("://"); sep != std::string_view::npos) key.remove_prefix(sep + 3);
  if (auto slash = key.find('/'); slash != std::string_view::npos) key = key.substr(0, slash);
  std::string host(key);
  for (char& c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (host == "index.docker.io" || host == "registry-1.docker.io") return std::string(kDockerHub);
  return host;
}

DockerConfig parse_docker_config(std::string_view text, std::string_view origin, bool legacy) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) bad_config(origin, "not a JSON object");
  if (legacy) doc = json{{"auths", std::move(doc)}};  // ~/.dockercfg is only the `auths` object
  DockerConfig config;
  if (auto auths = doc.find("auths"); auths != doc.end() && !auths->is_null()) {
    if (!auths->is_object()) bad_config(origin, "auths is not an object");
    for (const auto& [key, entry] : auths->items()) {
      std::optional<Credentials> credentials = entry_credentials(entry, origin, "auths[\"" + key + "\"]");
      if (!credentials) continue;
      // Several keys may name one registry ("docker.io" and its v1 URL): the
      // key docker itself writes (helper_server_url) wins over the others.
      std::string registry = registry_key(key);
      if (key == helper_server_url(registry)) {
        config.auths.insert_or_assign(std::move(registry), std::move(*credentials));
      } else {
        config.auths.emplace(std::move(registry), std::move(*credentials));
      }
    }
  }
  if (auto helpers = doc.find("credHelpers"); helpers != doc.end() && !helpers->is_null()) {
    if (!helpers->is_object()) bad_config(origin, "credHelpers is not an object");
    for (const auto& [key, name] : helpers->items()) {
      if (!name.is_string()) bad_config(origin, "credHelpers[\"" + key + "\"] is not a string");
      config.cred_helpers.emplace(registry_key(key), name.get<std::string>());
    }
  }
  config.creds_store = string_field(doc, "credsStore", origin, "config");
  return config;
}

std::vector<AuthFile> find_auth_files(std::string_view explicit_path) {
  if (!explicit_path.empty()) {
    std::filesystem::path path(explicit_path);
    if (!is_file(path)) {
      throw core::Error(core::ErrorKind::io, "credentials file not found", {.path = path.string()});
    }
    return {AuthFile{std::move(path), false}};
  }
  auto variable = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value ? value : "";
  };
  std::filesystem::path home = variable("HOME");
  std::vector<AuthFile> candidates;
  // containers-auth.json(5): the primary file (REGISTRY_AUTH_FILE, podman's
  // and skopeo's override, else ${XDG_RUNTIME_DIR}/containers/auth.json, else
  // containers/image's /run/containers/UID/auth.json), then
  // ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json, then docker's
  // ${DOCKER_CONFIG:-~/.docker}/config.json, then the legacy ~/.dockercfg.
  if (std::string file = variable("REGISTRY_AUTH_FILE"); !file.empty()) {
    candidates.push_back({file, false});
  } else if (std::string runtime = variable("XDG_RUNTIME_DIR"); !runtime.empty()) {
    candidates.push_back({std::filesystem::path(runtime) / "containers" / "auth.json", false});
  } else {
    candidates.push_back({"/run/containers/" + std::to_string(::getuid()) + "/auth.json", false});
  }
  std::string config_home = variable("XDG_CONFIG_HOME");
  if (config_home.empty() && !home.empty()) config_home = home / ".config";
  if (!config_home.empty()) candidates.push_back({std::filesystem::path(config_home) / "containers" / "auth.json", false});
  if (std::string dir = variable("DOCKER_CONFIG"); !dir.empty()) {
    candidates.push_back({std::filesystem::path(dir) / "config.json", false});
  } else if (!home.empty()) {
    candidates.push_back({home / ".docker" / "config.json", false});
  }
  if (!home.empty()) candidates.push_back({home / ".dockercfg", true});
  std::erase_if(candidates, [](const AuthFile& file) { return !is_file(file.path); });
  return candidates;
}

std::string helper_server_url(std::string_view registry) {
  if (registry_key(registry) == kDockerHub) return "https://index.docker.io/v1/";
  return std::string(registry);
}

std::optional<Credentials> parse_helper_output(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    throw core::Error(core::ErrorKind::auth, "credential helper answered something other than a JSON object");
  }
  std::string username = string_field(doc, "Username", "credential helper", "answer");
  std::string secret = string_field(doc, "Secret", "credential helper", "answer");
  if (secret.empty() || username == "<token>") return std::nullopt;
  return Credentials{std::move(username), std::move(secret)};
}

std::optional<Credentials> CredentialSource::lookup(std::string_view registry) {
  std::string key = registry_key(registry);
  if (auto hit = cache_.find(key); hit != cache_.end()) return hit->second;
  if (!configs_) {
    configs_.emplace();
    for (const AuthFile& file : find_auth_files(auth_file_)) {
      configs_->push_back(parse_docker_config(read_config_file(file.path), file.path.string(), file.legacy));
    }
  }
  std::optional<Credentials> found;
  for (const DockerConfig& config : *configs_) {
    if (auto helper = config.cred_helpers.find(key); helper != config.cred_helpers.end()) {
      found = run_credential_helper(helper->second, helper_server_url(key));
    } else if (auto entry = config.auths.find(key); entry != config.auths.end()) {
      found = entry->second;
    } else if (!config.creds_store.empty()) {
      found = run_credential_helper(config.creds_store, helper_server_url(key));
    }
    if (found) break;
  }
  cache_.emplace(key, found);
  return found;
}

}  // namespace gantry::registry::detail
