#pragma once
// Credentials the way docker, podman and skopeo keep them: a config.json
// with `auths` (base64 "user:password" in `auth`, or `username`/`password`),
// `credHelpers` (per registry) and `credsStore` (the default helper), the
// helpers being `docker-credential-NAME get` programs
// (github.com/docker/docker-credential-helpers).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::registry::detail {

struct Credentials {
  std::string username;
  std::string password;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

struct DockerConfig {
  std::map<std::string, Credentials> auths;         // by registry_key()
  std::map<std::string, std::string> cred_helpers;  // registry_key() -> helper NAME
  std::string creds_store;                          // helper NAME for all others
};

// The registry a config key names: the scheme and any path are dropped
// ("https://host:5000/v2/" -> "host:5000") and docker.io's aliases
// ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")
// become "docker.io", as references spell it.
[[nodiscard]] std::string registry_key(std::string_view key);

// Error(bad_input) naming `origin` (the file) for malformed JSON or fields.
// `legacy`: the old ~/.dockercfg, whose whole object is what `auths` holds.
[[nodiscard]] DockerConfig parse_docker_config(std::string_view json, std::string_view origin, bool legacy = false);

struct AuthFile {
  std::filesystem::path path;
  bool legacy = false;  // ~/.dockercfg format
  friend bool operator==(const AuthFile&, const AuthFile&) = default;
};

// The credential files searched, in order: explicit_path alone when given
// (it must exist: Error(io) otherwise), else those that exist of
// containers-auth.json(5)'s list: $REGISTRY_AUTH_FILE or
// $XDG_RUNTIME_DIR/containers/auth.json (/run/containers/UID/auth.json
// without XDG_RUNTIME_DIR), ${XDG_CONFIG_HOME:-$HOME/.config}/containers/auth.json,
// ${DOCKER_CONFIG:-$HOME/.docker}/config.json, $HOME/.dockercfg.
[[nodiscard]] std::vector<AuthFile> find_auth_files(std::string_view explicit_path);

// The server name a helper is asked about: docker.io keeps its historical
// "https://index.docker.io/v1/", every other registry its host[:port].
[[nodiscard]] std::string helper_server_url(std::string_view registry);

// A helper's answer {"ServerURL","Username","Secret"}; nullopt for an
// identity token (Username "<token>": an OAuth2 refresh token, not a
// password) or an empty secret.
[[nodiscard]] std::optional<Credentials> parse_helper_output(std::string_view json);

// Runs `docker-credential-NAME get` (found through $PATH) with the server
// on stdin. nullopt when the helper knows no credentials for it (non-zero
// exit); Error(auth) when the helper cannot be run or answers garbage.
[[nodiscard]] std::optional<Credentials> run_credential_helper(std::string_view name, std::string_view server);

// Looks credentials up for registries file by file (find_auth_files), as
// containers-auth.json(5) says ("read in sequence until the valid credential
// is found"); within a file in docker's order: credHelpers for the registry,
// then auths, then credsStore. The files are read once, on the first lookup;
// answers are remembered per registry.
class CredentialSource {
 public:
  explicit CredentialSource(std::string auth_file) : auth_file_(std::move(auth_file)) {}
  // `registry` as in references: "docker.io", "localhost:5000".
  [[nodiscard]] std::optional<Credentials> lookup(std::string_view registry);

 private:
  std::string auth_file_;
  std::optional<std::vector<DockerConfig>> configs_;
  std::map<std::string, std::optional<Credentials>, std::less<>> cache_;
};

}  // namespace gantry::registry::detail
