#pragma once
// What `gantry bench` reports of its runs: medians and spread per image,
// tool and mode (cold, warm), the median phases, ratios to gantry; as the
// results file (JSON, every run and phase), HelloBench's lines, and the
// terminal's table.

#include <string>
#include <utility>
#include <vector>

#include "tools/gantry/bench/bench_record.hpp"
#include "tools/gantry/bench/bench_tool.hpp"

namespace gantry::tools::bench {

struct ImageResults {
  BenchImage image;
  std::vector<RunRecord> runs;  // every tool's, in the order they ran
  std::string picture{};        // the median cold gantry run's SVG, a file name beside the results
};

// How the runs were made, said in the results as it was.
struct BenchMethod {
  int runs = 0;
  bool warm = false;
  std::string cold;        // what "cold" was: a new store per run in DIR, or a freshly made ext4
  std::string page_cache;  // what was and was not in the page cache
  int timeout_seconds = 0;
  std::vector<std::string> tools{};  // gantry first, then the compared ones
  std::vector<std::pair<std::string, std::string>> versions{};  // program: its version line
};

struct Spread {
  double median = 0, min = 0, max = 0;
  std::size_t runs = 0;
};

// The runs of `tool` in `mode`; none: runs == 0.
[[nodiscard]] Spread spread(const ImageResults& results, std::string_view tool, bool warm);
// The run whose ready time is the median (the lower middle one of an even
// count); null if the tool has no such run.
[[nodiscard]] const RunRecord* median_run(const ImageResults& results, std::string_view tool, bool warm);

// The results file: docs in README ("gantry bench"), checked by test_bench.
[[nodiscard]] std::string results_document(const BenchMethod& method, const std::vector<ImageResults>& images);
// HelloBench's line per image, tool and mode: {"repo", "bench", "elapsed"}
// (the median), and "tool", "mode", "runs".
[[nodiscard]] std::vector<std::string> hellobench_lines(const std::vector<ImageResults>& images);
// The table for a terminal.
[[nodiscard]] std::string results_table(const BenchMethod& method, const std::vector<ImageResults>& images);

}  // namespace gantry::tools::bench
