#pragma once
// The images `gantry bench` runs: `REF [-- CMD ARG...]` with --name and
// --ready, or a suite file (-f), HelloBench-style: one image per line, each
// line the same arguments as on the command line, split into words as a
// shell does ('...' and "..." quote, a backslash escapes outside single
// quotes), ${VAR} expanded from the environment outside single quotes
// (unset: an error), # starting a comment line. bench/suite/suite.txt is one.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tools/gantry/args.hpp"
#include "tools/gantry/bench/bench_tool.hpp"

namespace gantry::tools::bench {

inline constexpr std::array kImageOptions = {
    OptionSpec{.name = "name", .value_name = "NAME", .help = "the image's name in the results (default: the repository's last part)"},
    OptionSpec{.name = "ready", .value_name = "SPEC", .help = "ready when: exit (the process exits 0; the default), line=REGEX (a line of its output matches), port=PORT (127.0.0.1:PORT takes a connection), http=URL (a GET gets an answer); ports and URLs polled every 10 ms"},
};

// A suite is bounded like every list gantry is handed.
inline constexpr std::size_t kMaxSuiteImages = 1000;

// The images asked for, each name once; Error(bad_input) naming the file and
// line (or the argument) of the first bad one, before anything runs.
[[nodiscard]] std::vector<BenchImage> bench_images(const ParsedArgs& args);

// A suite line's words; Error(bad_input) saying why (an open quote, an unset
// or malformed ${VAR}).
[[nodiscard]] std::vector<std::string> split_words(std::string_view line);

}  // namespace gantry::tools::bench
