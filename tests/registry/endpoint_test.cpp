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

}  // namespace
}  // namespace gantry::registry::detail
