#include "registry/hosts_config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"

namespace gantry::registry {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::spit;

class HostsConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gantry-hosts-config-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes certs.d/<name>/hosts.toml and returns its path.
  fs::path hosts(const std::string& name, std::string_view text) {
    fs::create_directories(dir_ / "certs.d" / name);
    fs::path file = dir_ / "certs.d" / name / "hosts.toml";
    spit(file, text);
    return file;
  }
  // An empty file under certs.d/<name>/ standing for a certificate.
  fs::path pem(const std::string& name, const std::string& file) {
    fs::create_directories(dir_ / "certs.d" / name);
    spit(dir_ / "certs.d" / name / file, "PEM");
    return dir_ / "certs.d" / name / file;
  }
  // The one-line message load_config fails with.
  std::string failure() {
    auto error = error_of([&] { (void)load_config(dir_); });
    if (!error) return "no error";
    EXPECT_EQ(error->kind(), core::ErrorKind::bad_input) << error->what();
    return error->what();
  }

  fs::path dir_;
};

TEST_F(HostsConfig, AnEmptyDirectoryConfiguresNothing) {
  Options options = load_config(dir_);
  Options defaults;
  EXPECT_TRUE(options.registry_hosts.empty());
  EXPECT_TRUE(options.host_tls.empty());
  EXPECT_TRUE(options.plain_http_hosts.empty());
  EXPECT_EQ(options.jobs, defaults.jobs);
  EXPECT_EQ(options.stall_timeout, defaults.stall_timeout);
}

TEST_F(HostsConfig, AnHttpServerMakesTheRegistryPlain) {
  hosts("127.0.0.1:5000", R"(server = "http://127.0.0.1:5000")");
  Options options = load_config(dir_);
  EXPECT_EQ(options.registry_hosts.at("127.0.0.1:5000"), (RegistryHosts{.server = "127.0.0.1:5000", .mirrors = {}}));
  EXPECT_EQ(options.plain_http_hosts, (std::set<std::string>{"127.0.0.1:5000"}));
}

TEST_F(HostsConfig, MirrorsInTheFilesOrderWithTheirOwnTls) {
  fs::path ca = pem("docker.io", "mirror-ca.pem");
  hosts("docker.io", R"(
server = "https://registry-1.docker.io"

[host."https://zz-mirror.internal:5000"]
  capabilities = ["pull", "resolve"]
  ca = "mirror-ca.pem"

[host."http://aa-cache.internal"]
  capabilities = ["Pull", "Resolve", "push"]
  skip_verify = false
  override_path = false
)");
  Options options = load_config(dir_);
  // Not sorted: zz before aa, as written.
  EXPECT_EQ(options.registry_hosts.at("docker.io"),
            (RegistryHosts{.server = "registry-1.docker.io",
                           .mirrors = {"zz-mirror.internal:5000", "aa-cache.internal"}}));
  EXPECT_EQ(options.plain_http_hosts, (std::set<std::string>{"aa-cache.internal"}));
  ASSERT_EQ(options.host_tls.size(), 1u);
  EXPECT_EQ(options.host_tls.at("https://zz-mirror.internal:5000"), (HostTls{.ca_files = {ca.string()}, .client = {}}));
}

TEST_F(HostsConfig, TopLevelTlsIsTheOwnHostsWithoutAServer) {
  fs::path cert = pem("docker.io", "client.cert");
  fs::path key = pem("docker.io", "client.key");
  fs::path ca = pem("docker.io", "ca.pem");
  hosts("docker.io", "ca = [\"" + ca.string() + "\"]\nclient = [[\"client.cert\", \"client.key\"]]\n");
  Options options = load_config(dir_);
  EXPECT_EQ(options.registry_hosts.at("docker.io"), RegistryHosts{});
  EXPECT_EQ(options.host_tls.at("https://registry-1.docker.io:443"),
            (HostTls{.ca_files = {ca.string()},
                     .client = ClientCertificate{.cert_file = cert.string(), .key_file = key.string()}}));
}

TEST_F(HostsConfig, ClientCertificateForms) {
  fs::path both = pem("reg.example:5000", "client.pem");
  for (std::string_view form : {R"(client = "client.pem")", R"(client = ["client.pem"])",
                                R"(client = [["client.pem", ""]])"}) {
    hosts("reg.example:5000", form);
    Options options = load_config(dir_);
    EXPECT_EQ(options.host_tls.at("https://reg.example:5000").client,
              (ClientCertificate{.cert_file = both.string(), .key_file = both.string()}))
        << form;
  }
  hosts("reg.example:5000", R"(client = ["client.pem", "client.pem"])");
  EXPECT_NE(failure().find("one client certificate per host, 2 given"), std::string::npos) << failure();
}

TEST_F(HostsConfig, ContainerdsUnderscorePortSpellingWins) {
  hosts("reg.example:5000", R"(server = "https://colon.example")");
  hosts("reg.example_5000_", R"(server = "https://underscore.example")");
  EXPECT_EQ(load_config(dir_).registry_hosts.at("reg.example:5000").server, "underscore.example");
}

TEST_F(HostsConfig, DefaultServesOtherRegistries) {
  hosts("_default", R"([host."https://cache.internal"])");
  EXPECT_EQ(load_config(dir_).registry_hosts.at(std::string(kDefaultRegistryHosts)).mirrors,
            (std::vector<std::string>{"cache.internal"}));

  pem("_default", "ca.pem");
  hosts("_default", R"(ca = "ca.pem")");
  EXPECT_NE(failure().find("_default/hosts.toml need a server"), std::string::npos) << failure();
}

TEST_F(HostsConfig, ServerWithoutSchemeIsHttps) {
  hosts("reg.example", R"(server = "other.example:8443/v2")");
  Options options = load_config(dir_);
  EXPECT_EQ(options.registry_hosts.at("reg.example").server, "other.example:8443");
  EXPECT_TRUE(options.plain_http_hosts.empty());
}

TEST_F(HostsConfig, GantryTomlSetsDefaults) {
  spit(dir_ / "gantry.toml", "jobs = 12\njobs_per_host = 3\nmax_rate = 100_000_000\nstall_timeout = 2.5\n");
  Options options = load_config(dir_);
  EXPECT_EQ(options.jobs, 12);
  EXPECT_EQ(options.jobs_per_host, 3);
  EXPECT_EQ(options.max_rate, 100'000'000);
  EXPECT_EQ(options.stall_timeout, std::chrono::milliseconds(2500));
}

// Each refusal is one line naming the file, the line where toml++ knows it,
// and what is wrong.
struct Refusal {
  std::string_view text;
  std::string_view line;  // ":N: " or "" when no line is known
  std::string_view says;
};

TEST_F(HostsConfig, RefusesWhatItCannotUse) {
  const Refusal refusals[] = {
      {"server = \"http://a\"\n[host", ":2:", "malformed TOML"},
      {"server = \"http://a\"\nmirrors = []", ":2:", "unknown key \"mirrors\""},
      {"skip_verify = true", ":1:", "skip_verify = true is refused"},
      {"[host.\"https://m\"]\nskip_verify = true", ":2:", "gantry always verifies"},
      {"[host.\"https://m\"]\ncapabilities = [\"pull\"]", ":2:", "without both \"pull\" and \"resolve\""},
      {"capabilities = [\"pull\", \"fly\"]", ":1:", "unknown capability \"fly\""},
      {"[host.\"https://m\"]\noverride_path = true", ":2:", "override_path = true is not supported"},
      {"[host.\"https://m/v2/upstream\"]", ":1:", "a path in a host URL is not supported"},
      {"[host.\"https://m\".header]\nx = \"y\"", ":1:", "header is not supported"},
      {"dial_timeout = \"1s\"", ":1:", "dial_timeout is not supported"},
      {"server = \"ftp://a\"", ":1:", "only http and https"},
      {"server = 5", ":1:", "server: expected a string, got integer"},
      {"ca = \"missing.pem\"", ":1:", "ca: no such file"},
      {"[host.\"http://m\"]\nca = \"ca.pem\"", ":1:", "ca and client need an https URL"},
      {"[host.\"https://m\"]\n[host.\"https://m\".host.\"https://n\"]", ":2:", "unknown key \"host\""},
  };
  pem("reg.example", "ca.pem");
  for (const Refusal& refusal : refusals) {
    fs::path file = hosts("reg.example", refusal.text);
    std::string line = failure();
    EXPECT_EQ(line.rfind(file.string() + std::string(refusal.line), 0), 0u) << refusal.text << " -> " << line;
    EXPECT_NE(line.find(refusal.says), std::string::npos) << refusal.text << " -> " << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

TEST_F(HostsConfig, RefusesBadDefaults) {
  const Refusal refusals[] = {
      {"jobs = 0", ":1:", "jobs: expected a whole number from 1 to 64, got 0"},
      {"jobs = \"4\"", ":1:", "got string"},
      {"jobs_per_host = 65", ":1:", "from 1 to 64"},
      {"max_rate = -1", ":1:", "max_rate: expected a whole number"},
      {"stall_timeout = 0", ":1:", "stall_timeout: expected seconds"},
      {"stall_timeout = 7200", ":1:", "stall_timeout: expected seconds from 0 to 3600"},
      {"mirror = \"x\"", ":1:", "unknown key \"mirror\""},
      {"jobs = ", ":1:", "malformed TOML"},
  };
  for (const Refusal& refusal : refusals) {
    spit(dir_ / "gantry.toml", refusal.text);
    std::string line = failure();
    EXPECT_EQ(line.rfind((dir_ / "gantry.toml").string() + std::string(refusal.line), 0), 0u)
        << refusal.text << " -> " << line;
    EXPECT_NE(line.find(refusal.says), std::string::npos) << refusal.text << " -> " << line;
  }
}

TEST_F(HostsConfig, RefusesDirectoriesItCannotRead) {
  hosts("not_a_registry", "");
  EXPECT_NE(failure().find("not a registry as references name it"), std::string::npos) << failure();
  fs::remove_all(dir_ / "certs.d");

  pem("reg.example", "ca.crt");  // Docker's layout, no hosts.toml
  EXPECT_NE(failure().find("Docker's certificate files without a hosts.toml"), std::string::npos) << failure();
}

TEST_F(HostsConfig, TwoFilesGivingOneHostDifferentTlsIsAnError) {
  pem("a.example", "one.pem");
  pem("b.example", "two.pem");
  hosts("a.example", "[host.\"https://shared.cache\"]\nca = \"one.pem\"");
  hosts("b.example", "[host.\"https://shared.cache\"]\nca = \"two.pem\"");
  EXPECT_NE(failure().find("other ca or client settings"), std::string::npos) << failure();
}

}  // namespace
}  // namespace gantry::registry
