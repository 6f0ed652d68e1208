#include "registry/mirror.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace gantry::registry {
namespace {

TEST(Mirror, WithoutARegistryItServesDockerHubOnly) {
  EXPECT_EQ(parse_mirror("mirror.example:5000"), (Mirror{"docker.io", "mirror.example:5000"}));
  EXPECT_EQ(parse_mirror("[::1]:5000"), (Mirror{"docker.io", "[::1]:5000"}));
}

TEST(Mirror, ScopedToOneRegistry) {
  EXPECT_EQ(parse_mirror("quay.io=cache.local:5000"), (Mirror{"quay.io", "cache.local:5000"}));
  EXPECT_EQ(parse_mirror("127.0.0.1:5000=127.0.0.1:6000"), (Mirror{"127.0.0.1:5000", "127.0.0.1:6000"}));
  EXPECT_EQ(parse_mirror("index.docker.io=hub-cache"), (Mirror{"docker.io", "hub-cache"}));  // as references name it
}

TEST(Mirror, BadSyntaxIsOneLineNamingTheOption) {
  for (const char* bad : {"", "=cache", "quay.io=", "=", "http://cache", "quay.io=https://cache", "cache/path",
                          "quay.io=cache:0", "ca che", "quay.io=cache\r\nX: 1", "a=b=c", "cache:x"}) {
    try {
      (void)parse_mirror(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::bad_input) << bad;
      std::string what = e.what();
      EXPECT_EQ(what.rfind("--mirror: ", 0), 0u) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace gantry::registry
