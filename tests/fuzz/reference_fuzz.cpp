// core::Reference::parse over any text (a REF on the command line or in a
// prewarm file, a ref name in a store's index.json): a reference parsed once
// prints as text that parses back to the same reference.
#include "core/reference.hpp"
#include "fuzz_input.hpp"

using namespace gantry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::expect_only_gantry_errors([&] {
    const core::Reference ref = core::Reference::parse(fuzz::text(data, size));
    fuzz::require(core::Reference::parse(ref.string()) == ref, "Reference::parse(ref.string()) == ref");
    (void)ref.manifest_reference();
    (void)ref.endpoint_host();
  });
  return 0;
}
