#pragma once
// The picture of one bench run: a self-contained SVG waterfall a person
// reads at a glance. Rows top to bottom: gantry's startup and resolve (the
// auth, manifest and config marks on it), one row per layer (bottom layer
// first: waiting for a download slot, fetch and verify on one lane; decode
// and apply, which stream alongside the fetch, then the commit, on a second),
// then every later phase (mount, exec, the wait for ready; another tool's
// own phases), a line at ready, a labelled time axis and a legend. Text
// from the image (its reference, digests) is escaped; the rows are bounded
// (kMaxLayerRows), whatever the number of layers.

#include <cstddef>
#include <string>

#include "tools/gantry/bench/bench_record.hpp"

namespace gantry::tools::bench {

inline constexpr std::size_t kMaxLayerRows = 128;

struct WaterfallTitle {
  std::string image;     // the reference
  std::string subtitle;  // "gantry, cold, the median of 5 runs: ready in 1.234 s"
};

[[nodiscard]] std::string waterfall_svg(const WaterfallTitle& title, const RunRecord& run);

// The axis' step for a span of `seconds`: 1, 2 or 5 × 10^k, about eight ticks.
[[nodiscard]] double tick_step(double seconds);

}  // namespace gantry::tools::bench
