// gantry unpack [opts] REF DIR: a flattened rootfs of the image in DIR,
// decoded and applied while the layers download.
#include <array>

#include "engine/layer_window.hpp"
#include "tools/gantry/command_engine.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/unpack_cli.hpp"

namespace gantry::tools {
namespace {

static_assert(engine::kMaxLayers == 1000, "the description below names the layer limit");

constexpr std::array kOptions = {kMaxLayerSizeOption};

int run(const ParsedArgs& args) {
  if (args.positionals().size() != 2) {
    throw core::Error(core::ErrorKind::bad_input, "gantry unpack: expected REF DIR (see 'gantry unpack --help')");
  }
  core::Reference ref = core::Reference::parse(args.positionals()[0]);
  const std::string& dir = args.positionals()[1];
  CommandEngine images(args, engine_options(args), interruptible_registry_options(args));
  print_unpack_summary(args, images.carry_out({.reference = ref, .goal = engine::Goal::rootfs, .rootfs = dir}), dir);
  return 0;
}

}  // namespace

Command unpack_command() {
  return Command{
      .name = "unpack",
      .synopsis = "[OPTIONS] REF DIR",
      .summary = "write the image's flattened rootfs into DIR",
      .description =
          "Resolves REF, then downloads the layers the store lacks and, while the bytes\n"
          "arrive, checks them, decompresses them, checks each layer's diff ID and applies\n"
          "its files in order into DIR (created, or an existing empty directory). Layers\n"
          "already in the store are read from it. Whiteouts and opaque directories remove\n"
          "lower content; no entry can write outside DIR (names with .., absolute names and\n"
          "symlinks are resolved inside it). A new DIR appears only once complete (it is\n"
          "built beside DIR and renamed); an existing empty DIR is emptied again on failure.\n"
          "As many layers as --jobs decode and apply at once, bottom first; the others'\n"
          "downloads go into the store meanwhile. An image of more than 1000 layers is\n"
          "refused before any layer is fetched.\n"
          "SIGINT or SIGTERM stops it the same way (partial downloads are kept for the next\n"
          "run) with exit status 130 or 143; a second signal stops it at once.",
      .options = kOptions,
      .takes_common_options = true,
      .run = run,
      .stops_on_signal = true,
  };
}

}  // namespace gantry::tools
