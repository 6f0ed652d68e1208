// gantry pull [opts] REF...: every blob of each image verified into the store,
// the reference recorded in index.json.
#include <array>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/layer_window.hpp"
#include "tools/gantry/command_engine.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/image_requests.hpp"
#include "tools/gantry/interrupt.hpp"
#include "tools/gantry/unpack_cli.hpp"

namespace gantry::tools {
namespace {

static_assert(engine::kMaxLayers == 1000, "the description below names the layer limit");

constexpr std::array kOptions = {
    OptionSpec{.name = "unpack", .value_name = "",
               .help = "also unpack every layer into the store's snapshots (what `gantry run` uses)"},
    kMaxLayerSizeOption,
    kAllPlatformsOption,
};

// What a script wants from a pull: the exact image it got, by the digest
// the store records (the index's for a multi-platform image, as docker
// prints it), which pulls the same image again for the same --platform.
void print_pulled(const registry::ResolvedImage& image) {
  std::printf("%s@%s\n", image.reference.name().c_str(), registry::recorded_descriptor(image).digest.string().c_str());
}

// One line per image that failed when several were asked for; after a
// SIGINT/SIGTERM the one line says so instead (main.cpp).
void print_failure(const Outcome& outcome) {
  if (interrupting_signal() != 0) return;
  std::fprintf(stderr, "gantry: error: %s: %s\n", outcome.label().c_str(), outcome.error->what());
}

// Every image at once on the engine (image_requests.hpp); each is printed
// as it completes, a reference once however many of its platforms were
// pulled. One failing does not stop the others; a single image's error is
// the command's.
int pull_all(const ParsedArgs& args, const std::vector<core::Reference>& refs) {
  const engine::Goal goal = args.flag("unpack") ? engine::Goal::snapshots : engine::Goal::blobs;
  CommandEngine images(args, engine_options(args), interruptible_registry_options(args));
  const bool all_platforms = args.flag(kAllPlatformsOption.name);
  const bool one_image = refs.size() == 1 && !all_platforms;  // its error is the command's
  std::set<std::string> printed;
  int failures = 0;
  const std::vector<Outcome> outcomes = carry_out_all(images, refs, goal, all_platforms, [&](const Outcome& o) {
    if (o.error) {
      ++failures;
      if (!one_image) print_failure(o);
      return;
    }
    if (goal == engine::Goal::snapshots) print_unpack_summary(args, *o.report, {});
    if (!args.flag("json") && printed.insert(o.reference.string()).second) print_pulled(o.report->image);
    std::fflush(stdout);
  });
  if (one_image && outcomes[0].error) throw *outcomes[0].error;
  return failures == 0 ? 0 : 1;
}

int run(const ParsedArgs& args) {
  auto refs = references(args, 1, "pull");
  if (!args.flag("unpack") && args.value(kMaxLayerSizeOption.name)) {
    throw core::Error(core::ErrorKind::bad_input, "gantry pull: --max-layer-size applies with --unpack only");
  }
  return pull_all(args, refs);
}

}  // namespace

Command pull_command() {
  return Command{
      .name = "pull",
      .synopsis = "[OPTIONS] REF...",
      .summary = "fetch images and verify every blob into the store",
      .description =
          "Resolves each REF ([host[:port]/]path[:tag][@sha256:hex]; docker.io and library/ by\n"
          "default) to the manifest for the platform, fetches the config and every layer\n"
          "concurrently, verifies each against its digest, stores them in the OCI image layout\n"
          "at --store and records REF in its index.json. Blobs already in the store are not\n"
          "fetched again; an interrupted download resumes where it stopped (SIGINT or\n"
          "SIGTERM keep the partial files and exit 130 or 143). Prints\n"
          "NAME@DIGEST for each image pulled: the digest REF now names in the store, that of\n"
          "the index for a multi-platform image (whose other platforms pulled before stay).\n"
          "--all-platforms pulls every platform such an index offers (attestations left out).\n"
          "\n"
          "With --unpack, each layer is also unpacked, while it downloads, into a snapshot\n"
          "in the store (STORE/snapshots/sha256/<chain ID>, whiteouts in overlayfs form),\n"
          "the layers of one image at once; a snapshot is complete only once its layer's\n"
          "diff ID matched, and one already present (e.g. a base layer shared with another\n"
          "image) is not unpacked again. As many layers as --jobs unpack at once, bottom\n"
          "first; an image of more than 1000 layers is refused before any layer is fetched.",
      .options = kOptions,
      .takes_common_options = true,
      .run = run,
      .stops_on_signal = true,
  };
}

}  // namespace gantry::tools
