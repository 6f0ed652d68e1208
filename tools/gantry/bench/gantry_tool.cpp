#include "tools/gantry/bench/gantry_tool.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "tools/gantry/common_options.hpp"

namespace gantry::tools::bench {
namespace {

namespace fs = std::filesystem;
using Clock = WatchedProcess::Clock;
using Json = nlohmann::json;

// The options of the bench that every gantry run takes as they are: all
// the common ones but where the store is and what is shown.
std::vector<std::string> registry_arguments(const ParsedArgs& args) {
  std::vector<std::string> out;
  for (const OptionSpec& spec : common_options()) {
    if (spec.name == "store" || spec.name == "json" || spec.name == "quiet") continue;
    const std::string flag = "--" + std::string(spec.name);
    if (spec.value_name.empty()) {
      if (args.flag(spec.name)) out.push_back(flag);
      continue;
    }
    for (const std::string& value : args.values(spec.name)) out.push_back(flag + "=" + value);
  }
  return out;
}

std::string self_path() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw core::Error(core::ErrorKind::io, "cannot find gantry's own binary: " + ec.message());
  return self.string();
}

// Every whole line of a run's --json-file: read while gantry run writes
// it, a last line without its newline is still being written. The events
// are the run's own, so a line that is not one is gantry's bug, said as such.
std::vector<Json> read_events(const fs::path& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<Json> events;
  for (std::size_t begin = 0, end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    Json event = Json::parse(text.substr(begin, end - begin), nullptr, false);
    if (!event.is_object()) throw core::Error(core::ErrorKind::io, "a malformed event in " + path.string());
    events.push_back(std::move(event));
  }
  return events;
}

const Json* last_event(const std::vector<Json>& events, std::string_view name) {
  for (auto e = events.rbegin(); e != events.rend(); ++e) {
    if (e->value("event", "") == name) return &*e;
  }
  return nullptr;
}

// SIGKILL to `pid` if it is still the child of `parent` (a PID is only
// named once it was read from a file: it may have exited and been reused).
void kill_child_of(pid_t parent, int pid) {
  core::FileHandle pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return;  // gone already
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("PPid:", 0) != 0) continue;
    if (std::stoi(line.substr(5)) == parent) ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    return;
  }
}

class GantrySession final : public ToolSession {
 public:
  GantrySession(std::vector<std::string> prefix, const BenchImage& image, const fs::path& dir,
                const RunSettings& settings)
      : prefix_(std::move(prefix)), image_(image), dir_(dir), settings_(settings) {}

  RunRecord run(bool warm) override {
    const fs::path events_file = dir_ / ("events-" + std::to_string(runs_++) + ".jsonl");
    std::vector<std::string> argv = prefix_;
    argv.insert(argv.end(), {"--store", (dir_ / "store").string(), "--json-file", events_file.string(),
                             image_.reference});
    if (!image_.command.empty()) {
      argv.push_back("--");
      argv.insert(argv.end(), image_.command.begin(), image_.command.end());
    }
    WatchedProcess gantry(argv);
    wait_until_ready(gantry, image_, settings_, "gantry run");
    const Clock::time_point ready_at = gantry.ready_at();
    if (gantry.running()) {
      // Ready before it exited: stop the container, and gantry run ends
      // with it. Its first line can come before gantry wrote `launched`
      // (the process runs from its execve on): wait for that line.
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (gantry.running()) {
        const std::vector<Json> so_far = read_events(events_file);
        if (const Json* launched = last_event(so_far, "launched")) {
          kill_child_of(gantry.pid(), (*launched)["pid"].get<int>());
          break;
        }
        if (Clock::now() > deadline) {
          gantry.kill();
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      (void)gantry.wait(Clock::now() + std::chrono::seconds(30));
    }
    return record(read_events(events_file), gantry, ready_at, warm);
  }

 private:
  RunRecord record(const std::vector<Json>& events, const WatchedProcess& gantry, Clock::time_point ready_at,
                   bool warm) const {
    const Json* launched = last_event(events, "launched");
    const Json* timeline = last_event(events, "timeline");
    const Json* exited = last_event(events, "exited");
    if (launched == nullptr || timeline == nullptr || exited == nullptr) {
      throw core::Error(core::ErrorKind::io, "gantry run ended without its timeline, launch or exit events: " +
                                                 gantry.output_tail());
    }
    RunRecord run{.tool = "gantry", .warm = warm, .ready = seconds_since(gantry.started(), ready_at)};
    // The events' t = 0 on the run's clock: both are CLOCK_MONOTONIC.
    const double origin = (*launched)["monotonic_origin"].get<double>() -
                          std::chrono::duration<double>(gantry.started().time_since_epoch()).count();
    const Json& at = (*timeline)["at"];
    const double exec_end = origin + (*launched)["t"].get<double>();
    const double mount_end = exec_end - (*launched)["exec_seconds"].get<double>();
    const double launch_start = mount_end - (*launched)["mount_seconds"].get<double>();
    const double resolved = at.contains("resolve") ? origin + at["resolve"].get<double>() : origin;
    // The critical path, each phase from where the last ended (a clock
    // read a microsecond apart never makes one negative).
    double previous = 0;
    for (const auto& [name, end] : {std::pair<const char*, double>{"startup", origin}, {"resolve", resolved},
                                    {"layers", launch_start}, {"mount", mount_end}, {"exec", exec_end},
                                    {"ready", run.ready}}) {
      const double clamped = std::clamp(end, previous, run.ready);
      run.phases.push_back({.name = name, .start = previous, .end = clamped});
      previous = clamped;
    }
    for (const auto& [name, when] : at.items()) run.marks.push_back({.name = name, .at = origin + when.get<double>()});
    std::map<std::string, std::int64_t> sizes;
    for (const Json& e : events) {
      if (e.value("event", "") == "blob_started") sizes[e["digest"]] = e["size"];
      if (e.value("event", "") == "done") run.bytes_fetched += e["bytes_fetched"].get<std::int64_t>();
    }
    for (const Json& layer : (*timeline)["layers"]) {
      LayerSteps steps{.digest = layer["digest"]};
      if (auto size = sizes.find(steps.digest); size != sizes.end()) steps.size = size->second;
      const Json& marks = layer["at"];
      auto step = [&](const char* name) -> std::optional<double> {
        if (!marks.contains(name)) return std::nullopt;
        return origin + marks[name].get<double>();
      };
      steps.queued = step("queued");
      steps.first_byte = step("first_byte");
      steps.last_byte = step("last_byte");
      steps.verified = step("verified");
      steps.decoded = step("decoded");
      steps.applied = step("applied");
      steps.committed = step("committed");
      run.layers.push_back(std::move(steps));
    }
    run.usage = Usage{.user_seconds = (*exited)["user_seconds"], .sys_seconds = (*exited)["sys_seconds"],
                      .max_rss_bytes = (*exited)["max_rss_bytes"]};
    return run;
  }

  std::vector<std::string> prefix_;
  BenchImage image_;
  fs::path dir_;
  RunSettings settings_;
  int runs_ = 0;
};

class GantryTool final : public BenchTool {
 public:
  GantryTool(const ParsedArgs& args, const RunSettings& settings) : settings_(settings) {
    prefix_ = {self_path(), "run"};
    const std::vector<std::string> registry = registry_arguments(args);
    prefix_.insert(prefix_.end(), registry.begin(), registry.end());
  }
  std::string_view name() const override { return "gantry"; }
  std::vector<std::pair<std::string, std::string>> versions() const override {
    return {{"gantry", first_line_of({prefix_.front(), "--version"})}};
  }
  std::unique_ptr<ToolSession> open(const BenchImage& image, const fs::path& dir) const override {
    return std::make_unique<GantrySession>(prefix_, image, dir, settings_);
  }

 private:
  std::vector<std::string> prefix_;
  RunSettings settings_;
};

}  // namespace

std::unique_ptr<BenchTool> gantry_tool(const ParsedArgs& args, const RunSettings& settings) {
  return std::make_unique<GantryTool>(args, settings);
}

}  // namespace gantry::tools::bench
