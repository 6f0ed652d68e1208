// The JSON documents a registry serves (core/manifest): every input is
// parsed as a manifest, an index and an image config, as the resolver does
// with whatever a registry answers.
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "fuzz_input.hpp"

using namespace gantry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json = fuzz::text(data, size);
  fuzz::expect_only_gantry_errors([&] { (void)core::parse_manifest(json); });
  fuzz::expect_only_gantry_errors([&] { (void)core::parse_manifest(json, core::media_type::kOciManifest); });
  fuzz::expect_only_gantry_errors([&] { (void)core::parse_index(json); });
  fuzz::expect_only_gantry_errors([&] { (void)core::parse_index(json, core::media_type::kDockerManifestList); });
  fuzz::expect_only_gantry_errors([&] { (void)core::parse_config(json); });
  return 0;
}
