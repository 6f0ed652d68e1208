#include "registry/detail/docker_config.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "registry/detail/base64.hpp"
#include "tests/support/environment.hpp"

namespace gantry::registry::detail {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVariables[] = {"REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_RUNTIME_DIR",
                                     "XDG_CONFIG_HOME", "HOME", "PATH"};

// A temporary directory, and environment variables restored afterwards.
class DockerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gantry-docker-config-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    environment_.emplace(kVariables);
    // The per-UID primary file is outside the sandbox: the tests need a runtime dir.
    ::setenv("XDG_RUNTIME_DIR", (dir_ / "run").c_str(), 1);
    ::setenv("HOME", (dir_ / "home").c_str(), 1);
  }
  void TearDown() override {
    environment_.reset();
    fs::remove_all(dir_);
  }

  fs::path write(const fs::path& relative, const std::string& text, bool executable = false) {
    fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    if (executable) ::chmod(path.c_str(), 0755);
    return path;
  }

  // A docker-credential-NAME helper in a directory put first on PATH. It
  // answers for "secure.example:5000" and docker.io's key; it records what
  // it was asked so tests can see the exact server string.
  void install_helper(const std::string& name) {
    fs::path bin = dir_ / "bin";
    write(bin / ("docker-credential-" + name),
          "#!/bin/sh\n"
          "[ \"$1\" = get ] || exit 3\n"
          "read server\n"
          "echo \"$server\" >> '" + (dir_ / "asked").string() + "'\n"
          "case \"$server\" in\n"
          "  secure.example:5000) echo '{\"ServerURL\":\"secure.example:5000\",\"Username\":\"helper-user\",\"Secret\":\"s3cret\"}' ;;\n"
          "  https://index.docker.io/v1/) echo '{\"Username\":\"hub\",\"Secret\":\"hubpass\"}' ;;\n"
          "  token.example) echo '{\"Username\":\"<token>\",\"Secret\":\"refresh\"}' ;;\n"
          "  *) echo 'credentials not found in native keychain'; exit 1 ;;\n"
          "esac\n",
          /*executable=*/true);
    std::string path = bin.string() + ":" + (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
    ::setenv("PATH", path.c_str(), 1);
  }

  std::string asked() {
    std::ifstream in(dir_ / "asked");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  std::optional<gantry::testing::ScopedEnvironment> environment_;
};

TEST(RegistryKey, SchemesPathsAndDockerHubAliases) {
  EXPECT_EQ(registry_key("localhost:5000"), "localhost:5000");
  EXPECT_EQ(registry_key("https://Registry.Example.com/v2/"), "registry.example.com");
  EXPECT_EQ(registry_key("http://127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(registry_key("https://index.docker.io/v1/"), "docker.io");
  EXPECT_EQ(registry_key("index.docker.io"), "docker.io");
  EXPECT_EQ(registry_key("registry-1.docker.io"), "docker.io");
  EXPECT_EQ(registry_key("docker.io"), "docker.io");
}

TEST(ParseDockerConfig, AuthFieldUsernamePasswordAndHelpers) {
  std::string json = R"({
    "auths": {
      "https://index.docker.io/v1/": {"auth": ")" + base64_encode("hubuser:hub:pass") + R"("},
      "localhost:5000": {"username": "alice", "password": "pw"},
      "https://ghcr.io": {},
      "quay.io": {"auth": "", "email": "x@y"}
    },
    "credHelpers": {"gcr.io": "gcloud", "https://secure.example:5000": "test"},
    "credsStore": "desktop"
  })";
  DockerConfig config = parse_docker_config(json, "config.json");
  ASSERT_EQ(config.auths.size(), 2u);
  EXPECT_EQ(config.auths.at("docker.io"), (Credentials{"hubuser", "hub:pass"}));  // split at the first ':'
  EXPECT_EQ(config.auths.at("localhost:5000"), (Credentials{"alice", "pw"}));
  EXPECT_EQ(config.cred_helpers.at("gcr.io"), "gcloud");
  EXPECT_EQ(config.cred_helpers.at("secure.example:5000"), "test");
  EXPECT_EQ(config.creds_store, "desktop");
}

TEST(ParseDockerConfig, DockersOwnKeyWinsOverAliases) {
  std::string json = R"({"auths": {
      "docker.io": {"auth": ")" + base64_encode("short:1") + R"("},
      "https://index.docker.io/v1/": {"auth": ")" + base64_encode("canonical:2") + R"("},
      "registry-1.docker.io": {"auth": ")" + base64_encode("alias:3") + R"("}}})";
  EXPECT_EQ(parse_docker_config(json, "f").auths.at("docker.io").username, "canonical");
}

TEST(ParseDockerConfig, MalformedInputNamesTheFile) {
  for (const char* bad : {"nope", "[]", R"({"auths": []})", R"({"auths": {"h": {"auth": "!!"}}})",
                          R"({"auths": {"h": {"auth": "bm9jb2xvbg=="}}})", R"({"credHelpers": {"h": 1}})",
                          R"({"auths": {"h": {"username": 5}}})"}) {
    try {
      (void)parse_docker_config(bad, "/x/config.json");
      ADD_FAILURE() << bad;
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::bad_input) << bad;
      EXPECT_EQ(e.context().path, "/x/config.json");
    }
  }
}

TEST(HelperOutput, CredentialsIdentityTokensAndGarbage) {
  EXPECT_EQ(parse_helper_output(R"({"ServerURL":"h","Username":"u","Secret":"s"})"), (Credentials{"u", "s"}));
  EXPECT_FALSE(parse_helper_output(R"({"Username":"<token>","Secret":"refresh"})"));
  EXPECT_FALSE(parse_helper_output(R"({"Username":"u","Secret":""})"));
  EXPECT_THROW((void)parse_helper_output("credentials not found"), core::Error);
}

TEST(HelperServerUrl, DockerHubKeepsItsV1Url) {
  EXPECT_EQ(helper_server_url("docker.io"), "https://index.docker.io/v1/");
  EXPECT_EQ(helper_server_url("localhost:5000"), "localhost:5000");
}

TEST_F(DockerConfigTest, AuthFileSearchOrder) {
  auto paths = [] {
    std::vector<fs::path> found;
    for (const AuthFile& file : find_auth_files("")) found.push_back(file.path);
    return found;
  };
  EXPECT_TRUE(find_auth_files("").empty());
  fs::path legacy = write("home/.dockercfg", "{}");
  fs::path home = write("home/.docker/config.json", "{}");
  fs::path config_home = write("home/.config/containers/auth.json", "{}");
  fs::path runtime = write("run/containers/auth.json", "{}");
  EXPECT_EQ(find_auth_files(""), (std::vector<AuthFile>{{runtime}, {config_home}, {home}, {legacy, true}}));
  // DOCKER_CONFIG replaces ~/.docker, XDG_CONFIG_HOME replaces ~/.config, as in containers/image.
  fs::path docker_config = write("dc/config.json", "{}");
  ::setenv("DOCKER_CONFIG", (dir_ / "dc").c_str(), 1);
  fs::path xdg_config = write("xdg/containers/auth.json", "{}");
  ::setenv("XDG_CONFIG_HOME", (dir_ / "xdg").c_str(), 1);
  EXPECT_EQ(paths(), (std::vector<fs::path>{runtime, xdg_config, docker_config, legacy}));
  // REGISTRY_AUTH_FILE takes the primary file's place.
  fs::path registry_auth = write("auth.json", "{}");
  ::setenv("REGISTRY_AUTH_FILE", registry_auth.c_str(), 1);
  EXPECT_EQ(paths(), (std::vector<fs::path>{registry_auth, xdg_config, docker_config, legacy}));
  // An explicit file is the only one; a variable naming a missing file is skipped,
  // an explicit missing file is an error.
  fs::path explicit_file = write("explicit.json", "{}");
  EXPECT_EQ(find_auth_files(explicit_file.string()), (std::vector<AuthFile>{{explicit_file}}));
  ::setenv("REGISTRY_AUTH_FILE", (dir_ / "missing.json").c_str(), 1);
  EXPECT_EQ(paths(), (std::vector<fs::path>{xdg_config, docker_config, legacy}));
  EXPECT_THROW((void)find_auth_files((dir_ / "missing.json").string()), core::Error);
}

TEST_F(DockerConfigTest, CredentialsAreSearchedFileByFile) {
  // podman's file knows one registry, docker's another and a stale entry for
  // the first: the first file holding a registry's credentials answers.
  write("run/containers/auth.json",
        R"({"auths":{"podman.example":{"auth":")" + base64_encode("pod:man") + R"("}}})");
  write("home/.docker/config.json",
        R"({"auths":{"podman.example":{"auth":")" + base64_encode("stale:old") + R"("},)"
        R"("docker.example":{"username":"dock","password":"er"}}})");
  write("home/.dockercfg", R"({"legacy.example":{"auth":")" + base64_encode("old:cfg") + R"("}})");
  CredentialSource source("");
  EXPECT_EQ(source.lookup("podman.example"), (Credentials{"pod", "man"}));
  EXPECT_EQ(source.lookup("docker.example"), (Credentials{"dock", "er"}));
  EXPECT_EQ(source.lookup("legacy.example"), (Credentials{"old", "cfg"}));
  EXPECT_FALSE(source.lookup("unknown.example"));
}

TEST_F(DockerConfigTest, HelperIsCalledWithTheServerOnStdin) {
  install_helper("test");
  EXPECT_EQ(run_credential_helper("test", "secure.example:5000"), (Credentials{"helper-user", "s3cret"}));
  EXPECT_FALSE(run_credential_helper("test", "unknown.example"));  // exit 1: none
  EXPECT_FALSE(run_credential_helper("test", "token.example"));    // identity token: not a password
  EXPECT_EQ(asked(), "secure.example:5000\nunknown.example\ntoken.example\n");
}

// gantry blocks SIGINT and SIGTERM while a command waits for them
// (tools/gantry/interrupt.hpp); a helper must not inherit that mask, or a
// Ctrl-C would not reach it.
TEST_F(DockerConfigTest, HelperStartsWithNoSignalBlocked) {
  write(dir_ / "bin" / "docker-credential-mask",
        "#!/bin/sh\n"
        "read server\n"
        "blocked=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/self/status)\n"
        "echo \"{\\\"Username\\\":\\\"u\\\",\\\"Secret\\\":\\\"$blocked\\\"}\"\n",
        /*executable=*/true);
  install_helper("test");  // puts dir_/bin first on PATH
  sigset_t stop, previous;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &stop, &previous), 0);
  std::optional<Credentials> answer = run_credential_helper("mask", "h");
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &previous, nullptr), 0);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->password, "0000000000000000");
}

TEST_F(DockerConfigTest, MissingHelperIsAnAuthError) {
  try {
    (void)run_credential_helper("gantry-test-absent", "h");
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::auth);
    EXPECT_NE(std::string(e.what()).find("docker-credential-gantry-test-absent"), std::string::npos);
  }
}

TEST_F(DockerConfigTest, LookupOrderHelpersThenAuthsThenStore) {
  install_helper("test");
  fs::path file = write("config.json", R"({
    "auths": {"secure.example:5000": {"auth": ")" + base64_encode("file-user:file-pass") + R"("},
              "plain.example": {"auth": ")" + base64_encode("plain:pw") + R"("}},
    "credHelpers": {"secure.example:5000": "test"},
    "credsStore": "test"})");
  CredentialSource source(file.string());
  // credHelpers beats auths for the same registry.
  EXPECT_EQ(source.lookup("secure.example:5000"), (Credentials{"helper-user", "s3cret"}));
  // auths beats credsStore.
  EXPECT_EQ(source.lookup("plain.example"), (Credentials{"plain", "pw"}));
  // credsStore for the rest, asked with docker.io's historical key.
  EXPECT_EQ(source.lookup("docker.io"), (Credentials{"hub", "hubpass"}));
  EXPECT_FALSE(source.lookup("nobody.example"));
  // Answers are remembered: a second lookup does not run the helper again.
  EXPECT_EQ(source.lookup("secure.example:5000"), (Credentials{"helper-user", "s3cret"}));
  EXPECT_EQ(asked(), "secure.example:5000\nhttps://index.docker.io/v1/\nnobody.example\n");
}

TEST_F(DockerConfigTest, NoFileMeansNoCredentials) {
  CredentialSource source("");
  EXPECT_FALSE(source.lookup("localhost:5000"));
}

}  // namespace
}  // namespace gantry::registry::detail
