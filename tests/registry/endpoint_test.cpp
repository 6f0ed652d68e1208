#include "registry/detail/endpoint.hpp"

#include <gtest/gtest.h>

namespace gantry::registry::detail {
namespace {

core::Reference reference(std::string registry, std::string repository) {
  core::Reference r;
  r.registry = std::move(registry);
  r.repository = std::move(repository);
  r.tag = "latest";
  return r;
}

TEST(Endpoint, TlsUnlessNamedPlain) {
  Options options;
  auto only = endpoints_for(options, reference("localhost:5000", "app"));
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].scheme, "https");
  EXPECT_FALSE(only[0].mirror);
  EXPECT_EQ(only[0].url("/v2/").string(), "https://localhost:5000/v2/");

  options.plain_http_hosts = {"localhost:5000"};
  EXPECT_EQ(endpoints_for(options, reference("localhost:5000", "app"))[0].scheme, "http");
  EXPECT_EQ(endpoints_for(options, reference("localhost:5001", "app"))[0].scheme, "https");

  Options all;
  all.plain_http_all = true;
  EXPECT_EQ(endpoints_for(all, reference("reg.example", "app"))[0].scheme, "http");
}

TEST(Endpoint, MirrorsFirstThenTheOrigin) {
  Options options;
  options.mirrors = {{"docker.io", "mirror-a:5000"}, {"docker.io", "mirror-b"}};
  options.plain_http_hosts = {"mirror-a:5000"};
  auto list = endpoints_for(options, reference("docker.io", "library/busybox"));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].host, "mirror-a:5000");
  EXPECT_EQ(list[0].scheme, "http");
  EXPECT_TRUE(list[0].mirror);
  EXPECT_EQ(list[0].credentials, "mirror-a:5000");
  EXPECT_EQ(list[1].host, "mirror-b");
  EXPECT_EQ(list[1].scheme, "https");
  EXPECT_FALSE(list[2].mirror);
  EXPECT_EQ(list[2].host, "registry-1.docker.io");  // docker.io is reached there
  EXPECT_EQ(list[2].credentials, "docker.io");      // but its credentials are docker.io's
}

TEST(Endpoint, OnlyTheMirrorsOfTheReferencesRegistry) {
  Options options;
  options.mirrors = {{"docker.io", "hub-cache"}, {"quay.io", "quay-cache-1"}, {"localhost:5000", "local-cache"},
                     {"quay.io", "quay-cache-2"}};
  auto hosts = [&](const std::string& registry) {
    std::vector<std::string> out;
    for (const Endpoint& e : endpoints_for(options, reference(registry, "team/app"))) out.push_back(e.host);
    return out;
  };
  EXPECT_EQ(hosts("quay.io"), (std::vector<std::string>{"quay-cache-1", "quay-cache-2", "quay.io"}));
  EXPECT_EQ(hosts("docker.io"), (std::vector<std::string>{"hub-cache", "registry-1.docker.io"}));
  EXPECT_EQ(hosts("localhost:5000"), (std::vector<std::string>{"local-cache", "localhost:5000"}));
  EXPECT_EQ(hosts("localhost:5001"), (std::vector<std::string>{"localhost:5001"}));  // no mirror of its own
}

TEST(Endpoint, ConfiguredMirrorsAndServer) {
  Options options;
  options.registry_hosts["reg.example"] =
      RegistryHosts{.server = "origin.internal:5000", .mirrors = {"cache-a", "cache-b"}};
  options.plain_http_hosts = {"cache-b"};
  auto list = endpoints_for(options, reference("reg.example", "team/app"));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].host, "cache-a");
  EXPECT_EQ(list[0].scheme, "https");
  EXPECT_TRUE(list[0].mirror);
  EXPECT_EQ(list[1].host, "cache-b");
  EXPECT_EQ(list[1].scheme, "http");
  EXPECT_EQ(list[2].host, "origin.internal:5000");
  EXPECT_FALSE(list[2].mirror);
  // Another host than the registry's: its own credentials, never reg.example's.
  EXPECT_EQ(list[2].credentials, "origin.internal:5000");
}

TEST(Endpoint, TheRegistrysOwnServerKeepsItsCredentials) {
  Options options;
  options.registry_hosts["docker.io"] = RegistryHosts{.server = "registry-1.docker.io", .mirrors = {}};
  auto list = endpoints_for(options, reference("docker.io", "library/busybox"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].credentials, "docker.io");
}

TEST(Endpoint, GivenMirrorsReplaceTheConfiguredOnes) {
  Options options;
  options.registry_hosts["reg.example"] = RegistryHosts{.server = "", .mirrors = {"configured-cache"}};
  options.mirrors = {{"reg.example", "given-cache"}, {"docker.io", "hub-cache"}};
  auto hosts = [&](const std::string& registry) {
    std::vector<std::string> out;
    for (const Endpoint& e : endpoints_for(options, reference(registry, "team/app"))) out.push_back(e.host);
    return out;
  };
  EXPECT_EQ(hosts("reg.example"), (std::vector<std::string>{"given-cache", "reg.example"}));
  // docker.io has no entry and no _default: only its given mirror.
  EXPECT_EQ(hosts("docker.io"), (std::vector<std::string>{"hub-cache", "registry-1.docker.io"}));
}

TEST(Endpoint, DefaultEntryServesRegistriesWithoutTheirOwn) {
  Options options;
  options.registry_hosts[std::string(kDefaultRegistryHosts)] = RegistryHosts{.server = "", .mirrors = {"any-cache"}};
  options.registry_hosts["quay.io"] = RegistryHosts{};  // its own hosts.toml, no mirrors
  auto hosts = [&](const std::string& registry) {
    std::vector<std::string> out;
    for (const Endpoint& e : endpoints_for(options, reference(registry, "team/app"))) out.push_back(e.host);
    return out;
  };
  EXPECT_EQ(hosts("ghcr.io"), (std::vector<std::string>{"any-cache", "ghcr.io"}));
  EXPECT_EQ(hosts("quay.io"), (std::vector<std::string>{"quay.io"}));
}

}  // namespace
}  // namespace gantry::registry::detail
