// gantry run [OPTIONS] IMAGE [COMMAND] [ARG...]: pull and unpack the image into the
// store's snapshots (what is missing, while it downloads), stack them with
// overlayfs and run the image's process in a container of its own; exits
// with the process's status.
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "core/store.hpp"
#include "runtime/launcher.hpp"
#include "tools/gantry/command_engine.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/container_dir.hpp"
#include "tools/gantry/process_cli.hpp"
#include "tools/gantry/unpack_cli.hpp"

namespace gantry::tools {
namespace {

using Clock = std::chrono::steady_clock;

const std::vector<OptionSpec>& options() {
  static const std::vector<OptionSpec> specs = [] {
    std::vector<OptionSpec> all(kProcessOptions.begin(), kProcessOptions.end());
    all.push_back(OptionSpec{.name = "interactive", .value_name = "",
                             .help = "keep stdin open for the process (otherwise it reads /dev/null)", .short_name = 'i'});
    all.push_back(OptionSpec{.name = "init", .value_name = "",
                             .help = "PID 1 is gantry-init (installed beside gantry), which forwards signals and reaps zombies; the command its child"});
    all.push_back(OptionSpec{.name = "keep", .value_name = "",
                             .help = "keep the container's directory (its writes) under STORE/containers/ after exit"});
    all.push_back(OptionSpec{.name = "name", .value_name = "NAME",
                             .help = "the container's name: its directory's under STORE/containers/ (kept as NAME with --keep); unique"});
    all.push_back(OptionSpec{.name = "rm", .value_name = "",
                             .help = "remove the container's directory at exit (the default; --keep keeps it)"});
    all.push_back(OptionSpec{.name = "no-overlay", .value_name = "",
                             .help = "run in a flattened copy of the image instead of overlayfs over its snapshots"});
    all.push_back(OptionSpec{.name = "pull", .value_name = "missing|always|never",
                             .help = "ask the registry for the image only when the store lacks it (default), always, or never"});
    all.push_back(OptionSpec{.name = "timing", .value_name = "", .help = "print the cold-start breakdown on stderr"});
    all.push_back(OptionSpec{.name = "json-file", .value_name = "PATH",
                             .help = "the --json events into PATH instead (--json alone puts them on stderr: stdout is the container's)"});
    all.push_back(kMaxLayerSizeOption);
    return all;
  }();
  return specs;
}

double seconds(std::chrono::duration<double> d) { return d.count(); }

double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

// The `launched` event: where a process that started gantry (gantry bench)
// finds the container's PID and places the events on its own clock
// (steady_clock is CLOCK_MONOTONIC in libstdc++ on Linux).
core::progress::Launched launched_event(const std::string& reference, int pid, const runtime::LaunchTimes& times,
                                        Clock::time_point origin) {
  return {.reference = reference, .pid = pid, .mount_seconds = seconds(times.mount),
          .exec_seconds = seconds(times.exec), .monotonic_origin = seconds(origin.time_since_epoch())};
}

// The `exited` event: the status, and what gantry's own threads used.
core::progress::Exited exited_event(const std::string& reference, int status) {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return {.reference = reference, .status = status, .user_seconds = seconds(usage.ru_utime),
          .sys_seconds = seconds(usage.ru_stime), .max_rss_bytes = static_cast<std::int64_t>(usage.ru_maxrss) * 1024};
}

// A phase every layer reached: when the last one did (the first one, for
// the first byte); none if no layer did (all were in the store).
std::optional<double> layers_reached(const engine::ImageRecord& image, engine::LayerPhase phase) {
  std::optional<double> at;
  for (const engine::LayerRecord& layer : image.layers) {
    std::optional<double> when = layer.when(phase);
    if (!when) continue;
    const bool earlier = phase == engine::LayerPhase::first_byte;
    if (!at || (earlier ? *when < *at : *when > *at)) at = when;
  }
  return at;
}

// --timing: the cold start as the engine's timeline saw it (seconds since
// the command's engine started, the clock of the --json events' "t"), one
// row per phase; fetch, verify, decode and apply overlap per layer, so the
// layer rows say when the last layer got there.
void print_timing(const engine::ImageRecord& image, const engine::UnpackReport& report, double unpacked_at,
                  const runtime::LaunchTimes& launch) {
  struct Row {
    std::string_view name;
    std::optional<double> at;
  };
  using engine::LayerPhase;
  const double mounted = unpacked_at + seconds(launch.mount);
  const Row rows[] = {
      {"resolved", image.when(engine::ImagePhase::resolve)},
      {"first byte", layers_reached(image, LayerPhase::first_byte)},
      {"last byte", layers_reached(image, LayerPhase::last_byte)},
      {"verified", layers_reached(image, LayerPhase::verified)},
      {"applied", layers_reached(image, LayerPhase::applied)},
      {"committed", layers_reached(image, LayerPhase::committed)},
      {"unpacked", unpacked_at},
      {"mounted", mounted},
      {"exec", mounted + seconds(launch.exec)},
  };
  std::fprintf(stderr, "timing: %-12s %8s %8s\n", "phase", "at s", "took s");
  double previous = image.submitted;
  for (const Row& row : rows) {
    if (!row.at) {
      std::fprintf(stderr, "timing: %-12.*s %8s %8s\n", static_cast<int>(row.name.size()), row.name.data(), "-", "-");
      continue;
    }
    std::fprintf(stderr, "timing: %-12.*s %8.3f %8.3f\n", static_cast<int>(row.name.size()), row.name.data(), *row.at,
                 *row.at - previous);
    previous = *row.at;
  }
  std::fprintf(stderr, "timing: %zu of %zu layers unpacked, %lld bytes fetched; total to exec %.3f s\n",
               report.layers.size(), report.image.manifest.layers.size(),
               static_cast<long long>(report.fetched.bytes_fetched), previous);
  // Where the layers' time went waiting, summed over layers (they overlap).
  std::string waits;
  for (std::size_t i = 0; i < engine::kLayerWaits; ++i) {
    const auto wait = static_cast<engine::LayerWait>(i);
    double total = 0;
    for (const engine::LayerRecord& layer : image.layers) total += layer.seconds_waiting(wait);
    char part[64];
    std::snprintf(part, sizeof part, "%s%.*s %.3f s", i == 0 ? "" : ", ", static_cast<int>(to_string(wait).size()),
                  to_string(wait).data(), total);
    waits += part;
  }
  std::fprintf(stderr, "timing: layers waited for %s\n", waits.c_str());
}

int run(const ParsedArgs& args) {
  if (args.positionals().size() != 1) {
    throw core::Error(core::ErrorKind::bad_input,
                      "gantry run: expected [OPTIONS] IMAGE [COMMAND] [ARG...] (see 'gantry run --help')");
  }
  if (args.flag("rm") && args.flag("keep")) {
    throw core::Error(core::ErrorKind::bad_input, "gantry run: --rm and --keep conflict");
  }
  const std::optional<std::string> name = args.value("name");
  if (name) check_container_name(*name);
  runtime::check_can_launch();
  core::Reference ref = core::Reference::parse(args.positionals()[0]);
  runtime::LaunchSpec spec;
  spec.overrides = process_overrides(args);
  spec.options = bundle_options(args);
  spec.keep_stdin = args.flag("interactive");
  spec.with_init = args.flag("init");
  engine::EngineOptions options = engine_options(args);
  options.unpack.pull = pull_policy(args, engine::PullPolicy::missing);
  // stdout is the container's alone: events go to stderr (or --json-file).
  CommandEngine images(args, std::move(options), registry_options(args), JsonStream::stderr_stream);
  core::ContentStore& store = images.store();

  engine::UnpackReport report = images.carry_out({.reference = ref, .goal = engine::Goal::snapshots});
  ContainerDir container(store, args.flag("keep"), registry::recorded_descriptor(report.image).digest, name);
  spec.config = &report.image.config;
  spec.container_dir = container.path();
  spec.keep_upper = args.flag("keep");
  spec.seccomp_cache = store.root() / "cache" / "seccomp";
  const std::string reference = report.image.reference.string();
  spec.on_started = [&](int pid, const runtime::LaunchTimes& times) {
    images.emit(launched_event(reference, pid, times, images.engine().timeline().origin()));
  };
  auto flatten = [&] {
    spec.lower_dirs.clear();
    spec.rootfs = container.path() / "rootfs";
    (void)images.carry_out({.reference = ref, .goal = engine::Goal::rootfs, .rootfs = spec.rootfs});
  };
  if (args.flag("no-overlay")) {
    flatten();
  } else {
    spec.lower_dirs.assign(report.snapshots.rbegin(), report.snapshots.rend());
  }
  auto unpacked = Clock::now();
  std::optional<runtime::LaunchResult> launched;
  try {
    launched = runtime::launch(spec);
  } catch (const core::Error& e) {
    // Where overlayfs cannot stack the snapshots, a flattened copy can run.
    if (e.kind() != core::ErrorKind::unsupported || spec.lower_dirs.empty()) throw;
    std::fprintf(stderr, "gantry: %s; running in a flattened copy of the image instead\n", e.what());
    flatten();
    unpacked = Clock::now();
    launched = runtime::launch(spec);
  }
  const runtime::LaunchResult& result = *launched;
  if (args.flag("timing")) {
    const engine::Timeline& timeline = images.engine().timeline();
    print_timing(timeline.images().front(), report, timeline.seconds(unpacked), result.times);
  }
  if (!result.error.empty()) std::fprintf(stderr, "gantry: error: %s\n", result.error.c_str());
  images.emit(exited_event(reference, result.exit_status));
  return result.exit_status;
}

}  // namespace

Command run_command() {
  return Command{
      .name = "run",
      .synopsis = "[OPTIONS] IMAGE [COMMAND] [ARG...]",
      .summary = "pull, unpack (cached) and run the image's process in a container; exits with its status",
      .description =
          "Pulls IMAGE (unless the store has it: --pull missing, the default, as docker run) and\n"
          "unpacks every layer the store lacks into its snapshot while it\n"
          "downloads (as `gantry pull --unpack`), stacks the snapshots with overlayfs under a\n"
          "fresh upper dir in STORE/containers/<id>/ (removed at exit unless --keep), and runs\n"
          "the image's process (Docker's rules, as `gantry bundle`) as PID 1 of new PID,\n"
          "mount, UTS and IPC namespaces (and a new network one with --net none): /proc, a\n"
          "minimal /dev (no other device node opens: every mount is nodev), a read-only\n"
          "/sys, /etc/hosts, /etc/hostname and /etc/resolv.conf bound in, pivot_root,\n"
          "no_new_privs, Docker's default capabilities and seccomp profile (--security-opt\n"
          "seccomp=unconfined|FILE as docker run). stdin (with -i), stdout and stderr pass\n"
          "through (-t: a terminal instead); SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 and\n"
          "SIGWINCH are forwarded (as PID 1, the command ignores those it has no handler for,\n"
          "as with docker run; --init puts gantry-init, a small program of its own, in front\n"
          "of it; Ctrl-C three times within a second kills a container that ignores it; -t\n"
          "sets TERM, the caller's or xterm, unless the image or -e does). Exits with the\n"
          "process's status, 128+N when it died of signal N, 127 when the command is not\n"
          "found, 126 when it cannot be run. Where overlayfs cannot stack the snapshots, a\n"
          "flattened copy runs instead (said on stderr). Needs root.\n"
          "\n"
          "Arguments as docker run's: the options come before IMAGE, everything after it is\n"
          "the command (`--` right after IMAGE is also taken); short options combine (-it).\n"
          "An option gantry does not have is an error naming it. Exits 125 when gantry itself\n"
          "fails (a bad option, the pull or unpack, not root), as docker run.",
      .options = options(),
      .takes_common_options = true,
      .run = run,
      .operands = Operands::first_ends_options,
      .failure_status = 125,
  };
}

}  // namespace gantry::tools
