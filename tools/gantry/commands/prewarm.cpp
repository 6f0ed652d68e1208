// gantry prewarm [opts] [-f FILE] REF...: many images onto this node at once
// (the engine's budget, shared blobs fetched once), and a summary of what
// is ready and what failed where.
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "engine/engine.hpp"
#include "tools/gantry/command_engine.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/image_list.hpp"
#include "tools/gantry/image_requests.hpp"
#include "tools/gantry/progress_output.hpp"
#include "tools/gantry/unpack_cli.hpp"

namespace gantry::tools {
namespace {

using core::Error;
using core::ErrorKind;

constexpr std::array kOptions = {
    kImageListOption,
    OptionSpec{.name = "unpack", .value_name = "",
               .help = "also unpack every layer into the store's snapshots, so `gantry run` starts warm"},
    kMaxLayerSizeOption,
    kAllPlatformsOption,
};

// The counts are of layer blobs, as the `done` events': the documents
// (manifest, config) are a few KiB fetched while resolving.
std::int64_t layer_bytes(const registry::ResolvedImage& image) {
  std::int64_t total = 0;
  for (const core::Descriptor& layer : image.manifest.layers) total += layer.size;
  return total;
}

// Layer bytes of the image that did not cross the network for it: in the
// store already, or fetched for another image of this run.
std::int64_t reused_bytes(const engine::UnpackReport& report) {
  return std::max<std::int64_t>(0, layer_bytes(report.image) - report.fetched.bytes_fetched);
}

void print_json_summary(const std::vector<Outcome>& outcomes, double seconds) {
  nlohmann::ordered_json images = nlohmann::ordered_json::array();
  std::int64_t fetched = 0;
  std::size_t failed = 0;
  for (const Outcome& o : outcomes) {
    nlohmann::ordered_json j{{"reference", o.reference.string()}, {"ok", o.report.has_value()}};
    if (o.platform) j["platform"] = o.platform->string();
    if (o.report) {
      j["digest"] = o.report->image.manifest_descriptor.digest.string();
      if (const auto& index = o.report->image.index_descriptor) j["index_digest"] = index->digest.string();
      j["layers"] = o.report->image.manifest.layers.size();
      j["bytes_fetched"] = o.report->fetched.bytes_fetched;
      j["bytes_reused"] = reused_bytes(*o.report);
      j["ready_seconds"] = o.report->ready_seconds;
      fetched += o.report->fetched.bytes_fetched;
    } else {
      j["error"] = o.error->what();
      j["error_kind"] = core::to_string(o.error->kind());
      ++failed;
    }
    images.push_back(std::move(j));
  }
  nlohmann::ordered_json summary{{"event", "summary"},
                                 {"v", core::progress::kEventsVersion},
                                 {"t", seconds},
                                 {"image", nullptr},  // of every image
                                 {"images", std::move(images)},
                                 {"ok", outcomes.size() - failed}, {"failed", failed},
                                 {"bytes_fetched", fetched},       {"seconds", seconds}};
  std::printf("%s\n", summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void print_table(const std::vector<Outcome>& outcomes, double seconds) {
  std::size_t width = 5;
  for (const Outcome& o : outcomes) width = std::max(width, o.label().size());
  std::printf("%-*s  %-6s  %10s  %10s  %8s\n", static_cast<int>(width), "IMAGE", "STATUS", "FETCHED", "REUSED",
              "READY");
  std::int64_t fetched = 0;
  std::size_t failed = 0;
  for (const Outcome& o : outcomes) {
    const std::string name = o.label();
    if (o.report) {
      fetched += o.report->fetched.bytes_fetched;
      std::printf("%-*s  %-6s  %10s  %10s  %7.2fs\n", static_cast<int>(width), name.c_str(), "ok",
                  human_bytes(o.report->fetched.bytes_fetched).c_str(), human_bytes(reused_bytes(*o.report)).c_str(),
                  o.report->ready_seconds);
    } else {
      ++failed;
      std::printf("%-*s  %-6s  %s\n", static_cast<int>(width), name.c_str(), "failed", o.error->what());
    }
  }
  std::printf("%zu image%s: %zu ok, %zu failed; %s fetched in %.2f s\n", outcomes.size(),
              outcomes.size() == 1 ? "" : "s", outcomes.size() - failed, failed, human_bytes(fetched).c_str(),
              seconds);
}

int run(const ParsedArgs& args) {
  const std::vector<core::Reference> refs = images_asked(args, "prewarm");
  if (!args.flag("unpack") && args.value(kMaxLayerSizeOption.name)) {
    throw Error(ErrorKind::bad_input, "gantry prewarm: --max-layer-size applies with --unpack only");
  }
  const engine::Goal goal = args.flag("unpack") ? engine::Goal::snapshots : engine::Goal::blobs;
  CommandEngine images(args, engine_options(args), interruptible_registry_options(args));
  const std::vector<Outcome> outcomes = carry_out_all(images, refs, goal, args.flag(kAllPlatformsOption.name));
  const double seconds = images.seconds();
  if (args.flag("json")) {
    print_json_summary(outcomes, seconds);
  } else {
    print_table(outcomes, seconds);
  }
  std::fflush(stdout);

  std::string failed;
  std::size_t failures = 0;
  std::optional<ErrorKind> kind;
  for (const Outcome& o : outcomes) {
    if (!o.error) continue;
    if (!kind) kind = o.error->kind();
    failed += (failures++ == 0 ? "" : ", ") + o.label();
  }
  if (failures > 0) {
    throw Error(*kind, "gantry prewarm: " + std::to_string(failures) + " of " + std::to_string(outcomes.size()) +
                           " images failed: " + failed);
  }
  return 0;
}

}  // namespace

Command prewarm_command() {
  return Command{
      .name = "prewarm",
      .synopsis = "[OPTIONS] [-f FILE] REF...",
      .summary = "put many images on this node at once, and report what is ready",
      .description =
          "Pulls every REF (and every reference listed in each -f FILE) into the store at\n"
          "once, as `gantry pull` would, under one budget: --jobs downloads at once over all\n"
          "images, as many layers unpacking at once. Every image's manifest and config are\n"
          "fetched first, then each image's layers bottom first, in the order the images\n"
          "were named. A blob that several images share (a common base, one image by tag and\n"
          "by digest) is fetched once, also when two gantry processes work on one store at\n"
          "the same time. With --unpack every layer is also unpacked into its snapshot, so a\n"
          "later `gantry run` starts warm. --all-platforms puts every platform a multi-platform\n"
          "image offers in the store (a row each), not only --platform's (the host's).\n"
          "\n"
          "One image failing does not stop the others. At the end a table (or with --json a\n"
          "`summary` event) lists each image: ok with the layer bytes fetched, the layer bytes\n"
          "it reused (already in the store, or fetched for another image) and when it was\n"
          "ready, or failed with the reason. The exit status is non-zero when any image\n"
          "failed, with one line naming them. SIGINT or SIGTERM stop every image (partial\n"
          "downloads are kept) and exit 130 or 143.",
      .options = kOptions,
      .takes_common_options = true,
      .run = run,
      .stops_on_signal = true,
  };
}

}  // namespace gantry::tools
