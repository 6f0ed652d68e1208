// The tools `gantry bench --compare` runs beside gantry, each as its users
// run it, cold in the same way: a private containerd (its own root, state
// and socket in the session's directory) under ctr, podman with its own
// root, skopeo + umoci + runc on an OCI layout and a bundle of their own.
// All run the container in the host's network namespace, as `gantry run`
// does today, so a port or URL readiness means the same for each.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/error.hpp"
#include "core/file_tree.hpp"
#include "tools/gantry/bench/bench_tool.hpp"

namespace gantry::tools::bench {
namespace {

namespace fs = std::filesystem;
using Clock = WatchedProcess::Clock;
using Strings = std::vector<std::string>;
using namespace std::chrono_literals;

bool in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    const fs::path candidate = fs::path(dirs.substr(0, colon)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return false;
}

// Error(unsupported) naming the Debian package of the first program missing.
void require(std::string_view tool, std::initializer_list<std::pair<const char*, const char*>> programs) {
  for (const auto& [program, package] : programs) {
    if (!in_path(program)) {
      throw core::Error(core::ErrorKind::unsupported, "--compare " + std::string(tool) + " needs " + program +
                                                          " (Debian package " + package + ")");
    }
  }
}

std::string container_name() {
  std::random_device random;
  return "gantry-bench-" + std::to_string(random() & 0xffffff);
}

Strings joined(Strings head, const Strings& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

// Runs `run_argv` (the command that runs the container) until ready, then
// `stop_argv` (the tool's own kill), and waits for the container to go.
// `what`: the command as its users know it ("podman run"), for errors.
double run_until_ready(std::string_view what, const Strings& run_argv, const Strings& stop_argv,
                       const BenchImage& image, const RunSettings& settings, Clock::time_point start) {
  WatchedProcess container(run_argv);
  wait_until_ready(container, image, settings, what);
  const double ready = seconds_since(start, container.ready_at());
  if (!container.status()) {
    try {
      (void)run_to_end(stop_argv, 30s);
    } catch (const core::Error&) {
      container.kill();  // the tool's own stop failed: what is left goes with its session
    }
    (void)container.wait(Clock::now() + 30s);
  }
  return ready;
}

// What a tool's daemon left mounted under `dir` (overlay snapshots of a
// killed task): detached, so the session's directory can go.
void unmount_under(const fs::path& dir) {
  try {
    (void)run_to_end({"umount", "--recursive", "--lazy", dir.string()}, 30s);
  } catch (const core::Error&) {
    // Nothing was mounted there.
  }
}

// A directory of its own under /tmp, removed with it: for the sockets and
// state of a tool's daemon, whose paths must stay short (a unix socket's
// within sun_path's 108 bytes; podman's runroot, MACHINE-NOTES, shorter).
class ShortDir {
 public:
  explicit ShortDir(const char* prefix) {
    std::string path = std::string("/tmp/") + prefix + "-XXXXXX";
    if (::mkdtemp(path.data()) == nullptr) throw core::errno_error(errno, "cannot create", path);
    path_ = path;
  }
  ~ShortDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ShortDir(const ShortDir&) = delete;
  ShortDir& operator=(const ShortDir&) = delete;
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// Phases one after another from 0: {name, end}.
std::vector<Phase> phases(std::initializer_list<std::pair<const char*, double>> ends) {
  std::vector<Phase> out;
  double previous = 0;
  for (const auto& [name, end] : ends) {
    out.push_back({.name = name, .start = previous, .end = end});
    previous = end;
  }
  return out;
}

// ---- ctr: a private containerd 1.x, `ctr images pull` then `ctr run`.

class ContainerdSession final : public ToolSession {
 public:
  ContainerdSession(const BenchImage& image, const fs::path& dir, const RunSettings& settings)
      : image_(image), settings_(settings), root_(dir / "containerd"), state_("gantry-ctr") {
    const fs::path config = state_.path() / "config.toml";
    const fs::path socket = state_.path() / "sock";
    std::ofstream(config) << "version = 2\n"
                          << "root = \"" << root_.string() << "\"\n"
                          << "state = \"" << (state_.path() / "state").string() << "\"\n"
                          << "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                          << "[grpc]\n  address = \"" << socket.string() << "\"\n";
    ctr_ = {"ctr", "--address", socket.string()};
    daemon_.emplace(Strings{"containerd", "--config", config.string()});
    // Not timed: a node's containerd is up before any image is asked for.
    const auto deadline = Clock::now() + 30s;
    for (;;) {
      try {
        (void)run_to_end(joined(ctr_, {"version"}), 10s);
        break;
      } catch (const core::Error& e) {
        if (daemon_->status() || Clock::now() > deadline) {
          throw core::Error(core::ErrorKind::io, std::string("containerd did not start: ") + e.what());
        }
        std::this_thread::sleep_for(100ms);
      }
    }
  }
  ~ContainerdSession() override {
    if (daemon_) {
      ::kill(daemon_->pid(), SIGTERM);
      (void)daemon_->wait(Clock::now() + 10s);
    }
    unmount_under(root_);
    unmount_under(state_.path());
  }

  RunRecord run(bool warm) override {
    const auto start = Clock::now();
    double pulled = 0;
    if (!warm) {
      Strings pull = joined(ctr_, {"images", "pull"});
      if (settings_.plain_http) pull.push_back("--plain-http");
      pull.push_back(image_.reference);
      (void)run_to_end(pull, settings_.timeout);
      pulled = seconds_since(start, Clock::now());
    }
    const std::string id = container_name();
    const Strings run = joined(ctr_, {"run", "--rm", "--net-host", image_.reference, id});
    const double ready = run_until_ready("ctr run", joined(run, image_.command),
                                         joined(ctr_, {"task", "kill", "--signal", "SIGKILL", id}), image_,
                                         settings_, start);
    RunRecord record{.tool = "ctr", .warm = warm, .ready = ready};
    record.phases = warm ? phases({{"run", ready}}) : phases({{"pull", pulled}, {"run", ready}});
    return record;
  }

 private:
  BenchImage image_;
  RunSettings settings_;
  fs::path root_;  // on the filesystem under test
  ShortDir state_;  // its socket, config and state
  Strings ctr_;
  std::optional<WatchedProcess> daemon_;
};

// ---- podman: `podman run` (it pulls what it lacks), its own root.

class PodmanSession final : public ToolSession {
 public:
  PodmanSession(const BenchImage& image, const fs::path& dir, const RunSettings& settings)
      : image_(image), settings_(settings), runroot_("gantry-podman") {
    // Its root on the filesystem under test.
    podman_ = {"podman", "--root", (dir / "podman").string(), "--runroot", runroot_.path().string(),
               "--storage-driver", "overlay"};
  }
  ~PodmanSession() override {
    try {
      (void)run_to_end(joined(podman_, {"system", "reset", "--force"}), 60s);
    } catch (const core::Error&) {
      // Its root goes with the session's directory.
    }
    unmount_under(podman_[2]);
    unmount_under(runroot_.path());
  }

  RunRecord run(bool warm) override {
    const auto start = Clock::now();
    const std::string name = container_name();
    // MACHINE-NOTES: runc (crun fails on this hybrid cgroup layout), cgroupfs,
    // and the limits a process without CAP_SYS_RESOURCE may set.
    Strings run = joined(podman_, {"run", "--rm", "--name", name, "--runtime", "runc", "--cgroup-manager",
                                   "cgroupfs", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
                                   "--network", "host"});
    if (settings_.plain_http) run.push_back("--tls-verify=false");
    run.push_back(image_.reference);
    const double ready = run_until_ready("podman run", joined(run, image_.command),
                                         joined(podman_, {"kill", "--signal", "KILL", name}), image_, settings_,
                                         start);
    RunRecord record{.tool = "podman", .warm = warm, .ready = ready};
    record.phases = phases({{"run", ready}});
    return record;
  }

 private:
  BenchImage image_;
  RunSettings settings_;
  ShortDir runroot_;
  Strings podman_;
};

// ---- skopeo-umoci-runc: `skopeo copy` to an OCI layout, `umoci unpack`
// into a bundle, `runc run`; warm runs start the bundle again.

class UmociSession final : public ToolSession {
 public:
  UmociSession(const BenchImage& image, const fs::path& dir, const RunSettings& settings)
      : image_(image), settings_(settings), dir_(dir), runc_({"runc", "--root", (dir / "runc").string()}) {}

  RunRecord run(bool warm) override {
    const auto start = Clock::now();
    double pulled = 0, unpacked = 0;
    const fs::path bundle = dir_ / "bundle";
    if (!warm) {
      const std::string layout = "oci:" + (dir_ / "oci").string() + ":bench";
      Strings copy = {"skopeo", "copy", "--quiet"};
      if (settings_.plain_http) copy.push_back("--src-tls-verify=false");
      copy.insert(copy.end(), {"docker://" + image_.reference, layout});
      (void)run_to_end(copy, settings_.timeout);
      pulled = seconds_since(start, Clock::now());
      (void)run_to_end({"umoci", "unpack", "--image", layout.substr(4), bundle.string()}, settings_.timeout);
      adapt_config(bundle / "config.json");
      unpacked = seconds_since(start, Clock::now());
    }
    const std::string id = container_name();
    const double ready = run_until_ready("runc run", joined(runc_, {"run", "--bundle", bundle.string(), id}),
                                         joined(runc_, {"kill", id, "KILL"}), image_, settings_, start);
    RunRecord record{.tool = "skopeo-umoci-runc", .warm = warm, .ready = ready};
    record.phases = warm ? phases({{"run", ready}})
                         : phases({{"pull", pulled}, {"unpack", unpacked}, {"run", ready}});
    return record;
  }

 private:
  // umoci's config as the other tools run it: no terminal, the host's
  // network, the bench's command.
  void adapt_config(const fs::path& path) const {
    nlohmann::json config;
    {
      std::ifstream in(path);
      config = nlohmann::json::parse(in, nullptr, false);
    }
    if (config.is_discarded() || !config.is_object()) {
      throw core::Error(core::ErrorKind::io, "umoci wrote no readable config.json", {.path = path.string()});
    }
    config["process"]["terminal"] = false;
    if (!image_.command.empty()) config["process"]["args"] = image_.command;
    nlohmann::json& namespaces = config["linux"]["namespaces"];
    if (namespaces.is_array()) {
      nlohmann::json kept = nlohmann::json::array();
      for (const auto& ns : namespaces) {
        if (ns.value("type", "") != "network") kept.push_back(ns);
      }
      namespaces = std::move(kept);
    }
    std::ofstream(path) << config.dump(2);
  }

  BenchImage image_;
  RunSettings settings_;
  fs::path dir_;
  Strings runc_;
};

template <typename Session>
class CompareTool final : public BenchTool {
 public:
  CompareTool(std::string name, std::vector<Strings> version_commands, const RunSettings& settings)
      : name_(std::move(name)), version_commands_(std::move(version_commands)), settings_(settings) {}
  std::string_view name() const override { return name_; }
  std::vector<std::pair<std::string, std::string>> versions() const override {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Strings& command : version_commands_) out.emplace_back(command.front(), first_line_of(command));
    return out;
  }
  std::unique_ptr<ToolSession> open(const BenchImage& image, const fs::path& dir) const override {
    return std::make_unique<Session>(image, dir, settings_);
  }

 private:
  std::string name_;
  std::vector<Strings> version_commands_;
  RunSettings settings_;
};

}  // namespace

std::unique_ptr<BenchTool> compare_tool(std::string_view name, const RunSettings& settings) {
  const Strings runc = {"runc", "--version"};
  if (name == "ctr") {
    require(name, {{"containerd", "containerd"}, {"ctr", "containerd"}, {"runc", "runc"}});
    return std::make_unique<CompareTool<ContainerdSession>>(
        "ctr", std::vector<Strings>{{"containerd", "--version"}, {"ctr", "--version"}, runc}, settings);
  }
  if (name == "podman") {
    require(name, {{"podman", "podman"}, {"runc", "runc"}});
    return std::make_unique<CompareTool<PodmanSession>>(
        "podman", std::vector<Strings>{{"podman", "--version"}, runc}, settings);
  }
  if (name == "skopeo-umoci-runc") {
    require(name, {{"skopeo", "skopeo"}, {"umoci", "umoci"}, {"runc", "runc"}});
    return std::make_unique<CompareTool<UmociSession>>(
        "skopeo-umoci-runc", std::vector<Strings>{{"skopeo", "--version"}, {"umoci", "--version"}, runc}, settings);
  }
  throw core::Error(core::ErrorKind::bad_input,
                    "gantry bench: --compare " + std::string(name) + ": expected ctr, podman or skopeo-umoci-runc");
}

}  // namespace gantry::tools::bench
