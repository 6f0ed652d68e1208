// gantry pull [opts] REF...: every blob of each image verified into the store,
// the reference recorded in index.json.
#include <array>
#include <cstdio>
#include <optional>
#include <span>

#include "core/store.hpp"
#include "registry/client.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/image_unpack.hpp"
#include "tools/gantry/interrupt.hpp"
#include "tools/gantry/layer_window.hpp"
#include "tools/gantry/progress_output.hpp"
#include "tools/gantry/unpack_cli.hpp"

namespace gantry::tools {
namespace {

static_assert(kMaxLayers == 1000, "the description below names the layer limit");

constexpr std::array kOptions = {
    OptionSpec{.name = "unpack", .value_name = "",
               .help = "also unpack every layer into the store's snapshots (what `gantry run` uses)"},
    kMaxLayerSizeOption,
};

// What a script wants from a pull: the exact image it got.
void print_pulled(const registry::ResolvedImage& image) {
  std::printf("%s@%s\n", image.reference.name().c_str(), image.manifest_descriptor.digest.string().c_str());
}

// One line per image that failed when several were asked for; after a
// SIGINT/SIGTERM the one line says so instead (main.cpp).
void print_failure(const core::Reference& ref, const char* what) {
  if (interrupting_signal() != 0) return;
  std::fprintf(stderr, "gantry: error: %s: %s\n", ref.string().c_str(), what);
}

// Pulls and unpacks the images one after the other (a layer two of them
// share is fetched and unpacked once); a failure does not stop the others.
int pull_and_unpack(const ParsedArgs& args, const std::vector<core::Reference>& refs, core::ContentStore& store,
                    registry::Client& client, const UnpackOptions& options) {
  int failures = 0;
  for (const auto& ref : refs) {
    std::optional<UnpackReport> report;
    try {
      report = unpack_snapshots(client, store, ref, options);
    } catch (const core::Error& e) {
      if (refs.size() == 1) throw;
      ++failures;
      print_failure(ref, e.what());
      continue;
    }
    print_unpack_summary(args, *report, {});
    if (!args.flag("json")) print_pulled(report->image);
    std::fflush(stdout);
  }
  return failures == 0 ? 0 : 1;
}

int run(const ParsedArgs& args) {
  auto refs = references(args, 1, "pull");
  if (!args.flag("unpack") && args.value(kMaxLayerSizeOption.name)) {
    throw core::Error(core::ErrorKind::bad_input, "gantry pull: --max-layer-size applies with --unpack only");
  }
  const UnpackOptions unpack = unpack_options(args);
  registry::Options client_options = interruptible_registry_options(args);  // a bad flag fails before the store is made
  core::ContentStore store(store_root(args));
  auto events = make_progress_output(args);
  registry::Client client(std::move(client_options), events.get());
  if (args.flag("unpack")) return pull_and_unpack(args, refs, store, client, unpack);
  const bool print = !args.flag("json");

  if (refs.size() == 1) {
    auto result = client.pull(refs.front(), store);
    if (print) print_pulled(result.image);
    return 0;
  }
  // Several images: shared blobs are fetched once, one failure does not stop
  // the others, and each failure gets its own line.
  int failures = 0;
  for (const auto& outcome : client.pull(std::span<const core::Reference>(refs), store)) {
    if (outcome.result) {
      if (print) print_pulled(outcome.result->image);
    } else {
      ++failures;
      print_failure(outcome.reference, outcome.error ? outcome.error->what() : "failed");
    }
  }
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
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
          "NAME@DIGEST for each image pulled.\n"
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
