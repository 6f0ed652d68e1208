// gantry bench [opts] REF [-- CMD ARG...] | -f SUITE: container cold-start
// latency, HelloBench's way (each run until the container is ready), with
// where the time went: phases from gantry's own timeline, a picture of the
// median run, and the same runs of other tools beside it (--compare).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "runtime/launcher.hpp"
#include "tools/gantry/bench/bench_images.hpp"
#include "tools/gantry/bench/bench_results.hpp"
#include "tools/gantry/bench/fresh_filesystem.hpp"
#include "tools/gantry/bench/gantry_tool.hpp"
#include "tools/gantry/bench/waterfall_svg.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {
namespace {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorKind;

const std::vector<OptionSpec>& options() {
  static const std::vector<OptionSpec> specs = [] {
    std::vector<OptionSpec> all(bench::kImageOptions.begin(), bench::kImageOptions.end());
    all.push_back(OptionSpec{.name = "file", .value_name = "SUITE",
                             .help = "the images of SUITE, one per line: [--name NAME] [--ready SPEC] REF [-- CMD ARG...] (bench/suite/suite.txt)",
                             .short_name = 'f'});
    all.push_back(OptionSpec{.name = "runs", .value_name = "N", .help = "cold runs per image and tool (default 5)"});
    all.push_back(OptionSpec{.name = "warm", .value_name = "", .help = "after each cold run, a warm one on the store it left"});
    all.push_back(OptionSpec{.name = "compare", .value_name = "TOOL",
                             .help = "also run ctr, podman or skopeo-umoci-runc the same way, interleaved (repeatable, or TOOL,TOOL)",
                             .repeatable = true});
    all.push_back(OptionSpec{.name = "dir", .value_name = "DIR",
                             .help = "where each run's store goes: a new directory per run (default /var/tmp/gantry-bench)"});
    all.push_back(OptionSpec{.name = "cold-fs", .value_name = "",
                             .help = "each run on a freshly made ext4 (a sparse file in DIR, loop-mounted) instead"});
    all.push_back(OptionSpec{.name = "fs-size", .value_name = "SIZE", .help = "that filesystem's size (default 16G; sparse)"});
    all.push_back(OptionSpec{.name = "drop-caches", .value_name = "",
                             .help = "drop the page cache before each cold run (the registry's blobs too)"});
    all.push_back(OptionSpec{.name = "timeout", .value_name = "SECONDS", .help = "a run not ready by then fails the bench (default 300)"});
    all.push_back(OptionSpec{.name = "out", .value_name = "DIR",
                             .help = "results.json, hellobench.jsonl and the pictures go here (default ./gantry-bench-results)"});
    return all;
  }();
  return specs;
}

int positive(const ParsedArgs& args, std::string_view name, int fallback, int max) {
  const auto text = args.value(name);
  if (!text) return fallback;
  int value = 0;
  try {
    std::size_t used = 0;
    value = std::stoi(*text, &used);
    if (used != text->size()) value = 0;
  } catch (const std::exception&) {
    value = 0;
  }
  if (value < 1 || value > max) {
    throw Error(ErrorKind::bad_input, "gantry bench: --" + std::string(name) + " expects 1 to " +
                                          std::to_string(max) + ", got \"" + *text + "\"");
  }
  return value;
}

std::vector<std::unique_ptr<bench::BenchTool>> bench_tools(const ParsedArgs& args, const bench::RunSettings& settings) {
  std::vector<std::unique_ptr<bench::BenchTool>> tools;
  tools.push_back(bench::gantry_tool(args, settings));
  for (const std::string& value : args.values("compare")) {
    std::string_view list = value;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      std::unique_ptr<bench::BenchTool> tool = bench::compare_tool(list.substr(0, comma), settings);
      bool twice = false;
      for (const auto& t : tools) twice = twice || t->name() == tool->name();
      if (!twice) tools.push_back(std::move(tool));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
  }
  return tools;
}

void drop_page_cache() {
  ::sync();
  std::ofstream drop("/proc/sys/vm/drop_caches");
  drop << "3\n";
  drop.flush();
  if (!drop) throw Error(ErrorKind::io, "cannot drop the page cache (--drop-caches needs root)");
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw Error(ErrorKind::io, "cannot write", {.path = path.string()});
}

std::string seconds_text(double s) {
  char out[32];
  std::snprintf(out, sizeof out, "%.3f s", s);
  return out;
}

// The picture of the median run of gantry in `warm` mode, written beside
// the results: its file name, or empty if there is no such run.
std::string draw(const fs::path& out, const bench::ImageResults& results, bool warm, int runs) {
  const bench::RunRecord* median = bench::median_run(results, "gantry", warm);
  if (median == nullptr) return {};
  const std::string name = results.image.name + (warm ? "-warm" : "") + ".svg";
  const std::string subtitle = std::string("gantry, ") + (warm ? "warm" : "cold") + ", the median of " +
                               std::to_string(runs) + " run" + (runs == 1 ? "" : "s") + ": ready in " +
                               seconds_text(median->ready);
  write_file(out / name, bench::waterfall_svg({.image = results.image.reference, .subtitle = subtitle}, *median));
  return name;
}

int run_bench(const ParsedArgs& args) {
  if (args.value("store")) {
    throw Error(ErrorKind::bad_input, "gantry bench: every run makes a store of its own; --dir says where");
  }
  runtime::check_can_launch();
  std::vector<bench::BenchImage> images = bench::bench_images(args);
  const bench::RunSettings settings{
      .timeout = std::chrono::seconds(positive(args, "timeout", 300, 86400)),
      .plain_http = args.flag("plain-http") || !args.values("plain-http-host").empty()};
  const int runs = positive(args, "runs", 5, 1000);
  const bool warm = args.flag("warm");
  const bool cold_fs = args.flag("cold-fs");
  const std::int64_t fs_size = args.value("fs-size") ? parse_size("fs-size", *args.value("fs-size")) : 16LL << 30;
  if (args.value("fs-size") && !cold_fs) throw Error(ErrorKind::bad_input, "gantry bench: --fs-size needs --cold-fs");
  const fs::path dir = args.value("dir").value_or("/var/tmp/gantry-bench");
  const fs::path out = args.value("out").value_or("gantry-bench-results");
  const auto tools = bench_tools(args, settings);
  std::error_code ec;
  for (const fs::path& d : {dir, out}) {
    fs::create_directories(d, ec);
    if (ec) throw Error(ErrorKind::io, "cannot create: " + ec.message(), {.path = d.string()});
  }
  // One bench per DIR: each run remakes DIR/run (and DIR/fs.ext4).
  const core::FileHandle lock(::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) throw core::errno_error(errno, "cannot create", (dir / "lock").string());
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    throw Error(ErrorKind::io, "another gantry bench is using " + dir.string() + " (give another --dir)");
  }

  bench::BenchMethod method{
      .runs = runs, .warm = warm,
      .cold = cold_fs ? "each run on a freshly made ext4 (" + human_bytes(fs_size) + ", sparse, in " +
                            dir.string() + "), its store empty"
                      : "each run with a new, empty store in " + dir.string(),
      .page_cache = args.flag("drop-caches")
                        ? "the page cache dropped before each cold run (after a tool's daemon started): the "
                          "registry reads its blobs from disk"
                        : "the page cache not dropped: the registry's blobs and the tools' programs stay in memory",
      .timeout_seconds = static_cast<int>(settings.timeout.count())};
  for (const auto& tool : tools) {
    method.tools.emplace_back(tool->name());
    for (auto& version : tool->versions()) method.versions.push_back(std::move(version));
  }
  const bool quiet = args.flag("quiet");
  for (const auto& [program, version] : method.versions) {
    if (!quiet) std::fprintf(stderr, "bench: %s: %s\n", program.c_str(), version.c_str());
  }

  std::vector<bench::ImageResults> results;
  for (const bench::BenchImage& image : images) {
    bench::ImageResults& mine = results.emplace_back(bench::ImageResults{.image = image, .runs = {}});
    for (int i = 0; i < runs; ++i) {
      for (const auto& tool : tools) {  // interleaved: a drift in the machine hits every tool alike
        bench::check_interrupted();
        bench::FreshFilesystem place(dir, cold_fs, fs_size);
        std::unique_ptr<bench::ToolSession> session = tool->open(image, place.dir());
        if (args.flag("drop-caches")) drop_page_cache();
        for (const bool warm_run : {false, true}) {
          if (warm_run && !warm) break;
          bench::RunRecord run = session->run(warm_run);
          run.index = i;
          if (!quiet) {
            std::fprintf(stderr, "bench: %s %s %s %d/%d: ready in %s\n", image.name.c_str(), run.tool.c_str(),
                         warm_run ? "warm" : "cold", i + 1, runs, seconds_text(run.ready).c_str());
          }
          mine.runs.push_back(std::move(run));
        }
      }
    }
    mine.picture = draw(out, mine, false, runs);
    if (warm) (void)draw(out, mine, true, runs);
  }

  write_file(out / "results.json", bench::results_document(method, results));
  std::string lines;
  for (const std::string& line : bench::hellobench_lines(results)) lines += line + "\n";
  write_file(out / "hellobench.jsonl", lines);
  if (args.flag("json")) {
    std::fputs(lines.c_str(), stdout);
  } else {
    std::fputs(bench::results_table(method, results).c_str(), stdout);
    std::printf("results: %s\n", (out / "results.json").c_str());
    for (const bench::ImageResults& r : results) {
      if (!r.picture.empty()) std::printf("picture: %s\n", (out / r.picture).c_str());
    }
  }
  return 0;
}

}  // namespace

Command bench_command() {
  return Command{
      .name = "bench",
      .synopsis = "[OPTIONS] REF [-- CMD ARG...] | -f SUITE",
      .summary = "cold-start latency to ready, its phases and a picture; --compare ctr|podman|skopeo-umoci-runc",
      .description =
          "Runs each image with `gantry run` until it is ready (--ready: the process exits 0, a\n"
          "line of its output matches, a port or URL answers), then stops it; --runs times, each\n"
          "cold: a new empty store (--cold-fs: on a freshly made ext4), with --warm a second run\n"
          "on the store the first left. Reports the time to ready, its phases (startup, resolve,\n"
          "layers, mount, exec, ready) from gantry's own timeline, every layer's steps, gantry's\n"
          "CPU and peak RSS; medians and spread. --compare runs other tools the same number of\n"
          "times, interleaved, each cold the same way (a private containerd under ctr, podman\n"
          "with its own root, skopeo + umoci + runc), with their versions and the ratio to\n"
          "gantry's median. Writes OUT/results.json (every run and phase), OUT/hellobench.jsonl\n"
          "(HelloBench's line per image, tool and mode; on stdout with --json) and OUT/NAME.svg,\n"
          "the waterfall of the median cold run; prints a table. Needs root.",
      .options = options(),
      .takes_common_options = true,
      .run = run_bench,
      .stops_on_signal = true,
  };
}

}  // namespace gantry::tools
