// The Content-Range of a 206 (registry/detail/content_range): what it
// accepts is a range a resumed download may append.
#include "fuzz_input.hpp"
#include "registry/detail/content_range.hpp"

using namespace gantry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::expect_only_gantry_errors([&] {
    const auto range = registry::detail::parse_content_range(fuzz::text(data, size));
    if (!range) return;
    fuzz::require(0 <= range->first && range->first <= range->last, "0 <= first <= last");
    if (range->complete_length) fuzz::require(range->last < *range->complete_length, "last < length");
  });
  return 0;
}
