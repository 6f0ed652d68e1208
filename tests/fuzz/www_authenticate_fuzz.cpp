// The WWW-Authenticate header of a 401 (registry/detail/www_authenticate).
#include "fuzz_input.hpp"
#include "registry/detail/www_authenticate.hpp"

using namespace gantry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::expect_only_gantry_errors([&] {
    const auto challenges = registry::detail::parse_www_authenticate(fuzz::text(data, size));
    for (const auto& challenge : challenges) {
      for (char c : challenge.scheme) fuzz::require(!(c >= 'A' && c <= 'Z'), "schemes are lowercase");
    }
    (void)registry::detail::pick_challenge(challenges);
  });
  return 0;
}
