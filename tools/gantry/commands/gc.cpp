// gantry gc [--store DIR] [--dry-run] [--json] [-q]: removes what no
// reference reaches and no running gantry holds (engine/gc.hpp), and
// gantry df [--store DIR] [--json]: the store's disk use and what gc would
// free. One walk of the store serves both.
#include <array>
#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/gc.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {
namespace {

constexpr std::array kGcOptions = {
    kStoreOption,
    OptionSpec{.name = "dry-run", .value_name = "", .help = "remove nothing; say what would go"},
    kJsonOption,
    kQuietOption,
};
constexpr std::array kDfOptions = {kStoreOption, kJsonOption};

struct Kind {
  const char* name;
  engine::StoreUse engine::GcReport::*use;
};
constexpr std::array kKinds = {
    Kind{"blobs", &engine::GcReport::blobs},
    Kind{"snapshots", &engine::GcReport::snapshots},
    Kind{"partials", &engine::GcReport::partials},
    Kind{"containers", &engine::GcReport::containers},
};

// A store that does not exist holds nothing, and is not made to say so.
engine::GcReport collect(const ParsedArgs& args, engine::GcOptions options) {
  if (!existing_store(args, core::StoreLease::none)) return {};
  return engine::collect_garbage(store_root(args), options);
}

nlohmann::ordered_json counted(const engine::Reclaimable& r) { return {{"count", r.count}, {"bytes", r.bytes}}; }

int gc(const ParsedArgs& args) {
  refuse_positionals(args, "gc");
  const bool dry_run = args.flag("dry-run");
  const engine::GcReport report = collect(args, {.dry_run = dry_run});
  if (args.flag("json")) {
    nlohmann::ordered_json out{{"dry_run", dry_run}};
    for (const Kind& kind : kKinds) out[kind.name] = counted((report.*kind.use).unreachable);
    out["bytes"] = report.unreachable_bytes();
    out["live_leases"] = report.live_leases;
    out["expired_leases"] = report.expired_leases;
    std::printf("%s\n", out.dump().c_str());
  } else if (!args.flag("quiet")) {
    std::string line = dry_run ? "would remove" : "removed";
    for (const Kind& kind : kKinds) {
      line += (kind.use == kKinds.front().use ? " " : ", ") + std::to_string((report.*kind.use).unreachable.count) +
              " " + kind.name;
    }
    line += ": " + human_bytes(report.unreachable_bytes()) + (dry_run ? " to free" : " freed");
    if (report.live_leases > 0) line += " (" + std::to_string(report.live_leases) + " gantry processes at work kept theirs)";
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

int df(const ParsedArgs& args) {
  refuse_positionals(args, "df");
  const engine::GcReport report = collect(args, {.dry_run = true, .measure_all = true});
  if (args.flag("json")) {
    nlohmann::ordered_json out;
    for (const Kind& kind : kKinds) {
      const engine::StoreUse& use = report.*kind.use;
      out[kind.name] = {{"count", use.all.count}, {"bytes", use.all.bytes}, {"reclaimable", counted(use.unreachable)}};
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("%-10s  %7s  %10s  %12s\n", "TYPE", "COUNT", "SIZE", "RECLAIMABLE");
  engine::Reclaimable total, reclaimable;
  for (const Kind& kind : kKinds) {
    const engine::StoreUse& use = report.*kind.use;
    std::printf("%-10s  %7zu  %10s  %12s\n", kind.name, use.all.count, human_bytes(use.all.bytes).c_str(),
                human_bytes(use.unreachable.bytes).c_str());
    total.count += use.all.count;
    total.bytes += use.all.bytes;
    reclaimable.bytes += use.unreachable.bytes;
  }
  std::printf("%-10s  %7zu  %10s  %12s\n", "total", total.count, human_bytes(total.bytes).c_str(),
              human_bytes(reclaimable.bytes).c_str());
  return 0;
}

}  // namespace

Command gc_command() {
  return Command{
      .name = "gc",
      .synopsis = "[--store DIR] [--dry-run] [--json] [-q]",
      .summary = "remove from the store what no reference reaches",
      .description =
          "Marks what the references of index.json reach (the index or manifest each names,\n"
          "every platform of an index that was pulled, their configs, layers and layer\n"
          "snapshots, and the containers `run --keep` kept of those images) and removes the\n"
          "rest: blobs, snapshots, partial downloads, staging dirs of killed unpacks and kept\n"
          "containers. What a running gantry (pull, unpack, run, export, ...) uses is never\n"
          "removed: each holds the digests it touches in a lease, STORE/leases/<pid>-<n>,\n"
          "before it touches them, and gc sweeps under STORE/leases/gc.lock; a lease whose\n"
          "process died expires at the next gc. A reference whose documents cannot be read\n"
          "stops gc before it removes anything. Prints what went and how much was freed;\n"
          "--dry-run removes nothing and prints what would go.",
      .options = kGcOptions,
      .takes_common_options = false,
      .run = gc,
  };
}

Command df_command() {
  return Command{
      .name = "df",
      .synopsis = "[--store DIR] [--json]",
      .summary = "show the store's disk use and what gc would free",
      .description =
          "Count and disk use (allocated blocks; a file of several links once) of the blobs,\n"
          "layer snapshots, partial downloads and container dirs of the store, and of each\n"
          "what `gantry gc` would free now. Trees are walked one directory at a time, however\n"
          "deep an image made them; a running container's dir is counted but not measured\n"
          "(its processes may be changing it).",
      .options = kDfOptions,
      .takes_common_options = false,
      .run = df,
  };
}

}  // namespace gantry::tools
