#include "tools/gantry/bench/bench_results.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

namespace gantry::tools::bench {
namespace {

using Json = nlohmann::ordered_json;

std::string_view mode_name(bool warm) { return warm ? "warm" : "cold"; }

std::vector<const RunRecord*> runs_of(const ImageResults& results, std::string_view tool, bool warm) {
  std::vector<const RunRecord*> runs;
  for (const RunRecord& run : results.runs) {
    if (run.tool == tool && run.warm == warm) runs.push_back(&run);
  }
  std::sort(runs.begin(), runs.end(), [](const RunRecord* a, const RunRecord* b) { return a->ready < b->ready; });
  return runs;
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

Json run_json(const RunRecord& run) {
  Json j{{"tool", run.tool}, {"mode", mode_name(run.warm)}, {"index", run.index}, {"ready", run.ready}};
  Json phases = Json::array();
  for (const Phase& p : run.phases) phases.push_back({{"name", p.name}, {"start", p.start}, {"end", p.end}});
  j["phases"] = std::move(phases);
  Json marks = Json::object();
  for (const Mark& m : run.marks) marks[m.name] = m.at;
  j["marks"] = std::move(marks);
  Json layers = Json::array();
  for (const LayerSteps& l : run.layers) {
    Json layer{{"digest", l.digest}, {"size", l.size}};
    for (const auto& [name, at] : {std::pair{"queued", l.queued}, {"first_byte", l.first_byte},
                                   {"last_byte", l.last_byte}, {"verified", l.verified}, {"decoded", l.decoded},
                                   {"applied", l.applied}, {"committed", l.committed}}) {
      if (at) layer[name] = *at;
    }
    layers.push_back(std::move(layer));
  }
  j["layers"] = std::move(layers);
  if (run.usage) {
    j["usage"] = {{"user_seconds", run.usage->user_seconds}, {"sys_seconds", run.usage->sys_seconds},
                  {"max_rss_bytes", run.usage->max_rss_bytes}};
  }
  if (run.tool == "gantry") j["bytes_fetched"] = run.bytes_fetched;
  return j;
}

// The median of each phase's duration over the runs (phases by name, in
// the order the runs have them).
Json median_phases(const std::vector<const RunRecord*>& runs) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> durations;
  for (const RunRecord* run : runs) {
    for (const Phase& p : run->phases) {
      if (!durations.contains(p.name)) order.push_back(p.name);
      durations[p.name].push_back(p.end - p.start);
    }
  }
  Json j = Json::object();
  for (const std::string& name : order) j[name] = median_of(durations[name]);
  return j;
}

std::vector<std::string> tools_of(const ImageResults& results) {
  std::vector<std::string> tools;
  for (const RunRecord& run : results.runs) {
    if (std::find(tools.begin(), tools.end(), run.tool) == tools.end()) tools.push_back(run.tool);
  }
  return tools;
}

std::string format(const char* pattern, auto... values) {
  char out[512];
  std::snprintf(out, sizeof out, pattern, values...);
  return out;
}

}  // namespace

Spread spread(const ImageResults& results, std::string_view tool, bool warm) {
  const std::vector<const RunRecord*> runs = runs_of(results, tool, warm);
  if (runs.empty()) return {};
  std::vector<double> ready;
  for (const RunRecord* run : runs) ready.push_back(run->ready);
  return {.median = median_of(ready), .min = ready.front(), .max = ready.back(), .runs = ready.size()};
}

const RunRecord* median_run(const ImageResults& results, std::string_view tool, bool warm) {
  const std::vector<const RunRecord*> runs = runs_of(results, tool, warm);
  return runs.empty() ? nullptr : runs[(runs.size() - 1) / 2];
}

std::string results_document(const BenchMethod& method, const std::vector<ImageResults>& images) {
  utsname host{};
  ::uname(&host);
  Json versions = Json::object();
  for (const auto& [program, version] : method.versions) versions[program] = version;
  Json doc{{"gantry_bench", 1},
           {"method", {{"runs", method.runs}, {"warm", method.warm}, {"cold", method.cold},
                       {"page_cache", method.page_cache}, {"timeout_seconds", method.timeout_seconds},
                       {"tools", method.tools}}},
           {"machine", {{"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)}, {"kernel", host.release}, {"arch", host.machine}}},
           {"versions", std::move(versions)}};
  Json out_images = Json::array();
  for (const ImageResults& results : images) {
    Json image{{"name", results.image.name}, {"reference", results.image.reference},
               {"command", results.image.command}, {"ready", results.image.ready.spec}};
    Json runs = Json::array();
    for (const RunRecord& run : results.runs) runs.push_back(run_json(run));
    image["runs"] = std::move(runs);
    Json summary = Json::object();
    Json ratios = Json::object();
    for (const std::string& tool : tools_of(results)) {
      for (const bool warm : {false, true}) {
        const Spread s = spread(results, tool, warm);
        if (s.runs == 0) continue;
        summary[tool][mode_name(warm)] = {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"runs", s.runs},
                                          {"phases", median_phases(runs_of(results, tool, warm))}};
        const Spread ours = spread(results, "gantry", warm);
        if (tool != "gantry" && ours.runs > 0 && ours.median > 0) ratios[tool][mode_name(warm)] = s.median / ours.median;
      }
    }
    image["summary"] = std::move(summary);
    image["ratios"] = std::move(ratios);  // the other tool's median over gantry's
    if (!results.picture.empty()) image["picture"] = results.picture;
    out_images.push_back(std::move(image));
  }
  doc["images"] = std::move(out_images);
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<std::string> hellobench_lines(const std::vector<ImageResults>& images) {
  std::vector<std::string> lines;
  for (const ImageResults& results : images) {
    for (const std::string& tool : tools_of(results)) {
      for (const bool warm : {false, true}) {
        const Spread s = spread(results, tool, warm);
        if (s.runs == 0) continue;
        lines.push_back(dump(Json{{"repo", results.image.reference}, {"bench", results.image.name},
                                  {"elapsed", s.median}, {"tool", tool}, {"mode", mode_name(warm)},
                                  {"runs", s.runs}}));
      }
    }
  }
  return lines;
}

std::string results_table(const BenchMethod& method, const std::vector<ImageResults>& images) {
  std::string out = format("%-18s %-18s %-5s %9s %17s %8s\n", "IMAGE", "TOOL", "MODE", "MEDIAN s", "MIN-MAX s",
                           "x GANTRY");
  for (const ImageResults& results : images) {
    for (const std::string& tool : tools_of(results)) {
      for (const bool warm : {false, true}) {
        const Spread s = spread(results, tool, warm);
        if (s.runs == 0) continue;
        const Spread ours = spread(results, "gantry", warm);
        const std::string ratio = tool == "gantry" || ours.runs == 0 ? "" : format("%.2f", s.median / ours.median);
        out += format("%-18.18s %-18.18s %-5s %9.3f %8.3f-%-8.3f %8s\n", results.image.name.c_str(), tool.c_str(),
                      std::string(mode_name(warm)).c_str(), s.median, s.min, s.max, ratio.c_str());
      }
    }
    if (const RunRecord* median = median_run(results, "gantry", false)) {
      std::string phases;
      for (const Phase& p : median->phases) phases += format(" %s %.3f", p.name.c_str(), p.end - p.start);
      out += "  gantry's median cold run:" + phases + " s";
      if (median->usage) {
        out += format("; CPU %.2f s user + %.2f s sys, peak RSS %.0f MiB", median->usage->user_seconds,
                      median->usage->sys_seconds, static_cast<double>(median->usage->max_rss_bytes) / (1 << 20));
      }
      out += "\n";
    }
  }
  out += format("%d run%s each, %s; %s\n", method.runs, method.runs == 1 ? "" : "s", method.cold.c_str(),
                method.page_cache.c_str());
  return out;
}

}  // namespace gantry::tools::bench
