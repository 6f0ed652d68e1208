// A docker config.json (--auth-file, ~/.docker/config.json), a credential
// helper's answer and a config key (registry/detail/docker_config).
#include "fuzz_input.hpp"
#include "registry/detail/docker_config.hpp"

using namespace gantry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::text(data, size);
  fuzz::expect_only_gantry_errors([&] {
    for (const auto& [key, credentials] : registry::detail::parse_docker_config(input, "fuzz.json").auths) {
      (void)registry::detail::helper_server_url(key);
    }
  });
  fuzz::expect_only_gantry_errors([&] { (void)registry::detail::parse_helper_output(input); });
  fuzz::expect_only_gantry_errors([&] { (void)registry::detail::registry_key(input); });
  return 0;
}
