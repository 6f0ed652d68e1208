// gantry unpack [opts] REF DIR: a flattened rootfs of the image in DIR,
// decoded and applied while the layers download.
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/store.hpp"
#include "registry/client.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/image_unpack.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {
namespace {

constexpr std::array kOptions = {
    OptionSpec{.name = "max-layer-size", .value_name = "SIZE",
               .help = "refuse a layer that expands beyond SIZE (e.g. 512M, 20G; default: no limit)"},
};

void print_summary(const ParsedArgs& args, const UnpackReport& report, const std::string& dir) {
  std::int64_t files = 0, bytes = 0, uncompressed = 0;
  for (const auto& layer : report.layers) {
    files += layer.applied.entries;
    bytes += layer.applied.bytes;
    uncompressed += layer.uncompressed_bytes;
  }
  if (args.flag("json")) {
    nlohmann::ordered_json j{{"event", "unpacked"},
                             {"reference", report.image.reference.string()},
                             {"digest", report.image.manifest_descriptor.digest.string()},
                             {"rootfs", dir},
                             {"layers", report.layers.size()},
                             {"entries", files},
                             {"file_bytes", bytes},
                             {"uncompressed_bytes", uncompressed},
                             {"fetched_bytes", report.fetched.bytes_fetched},
                             {"seconds", report.seconds}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (!args.flag("quiet")) {
    std::fprintf(stderr, "unpacked %s into %s: %zu layer%s, %lld entries, %s of files, %.2f s\n",
                 report.image.reference.string().c_str(), dir.c_str(), report.layers.size(),
                 report.layers.size() == 1 ? "" : "s", static_cast<long long>(files), human_bytes(bytes).c_str(),
                 report.seconds);
  }
}

int run(const ParsedArgs& args) {
  if (args.positionals().size() != 2) {
    throw core::Error(core::ErrorKind::bad_input, "gantry unpack: expected REF DIR (see 'gantry unpack --help')");
  }
  core::Reference ref = core::Reference::parse(args.positionals()[0]);
  const std::string& dir = args.positionals()[1];
  UnpackOptions options;
  if (auto size = args.value("max-layer-size")) options.max_layer_size = parse_size("max-layer-size", *size);

  core::ContentStore store(store_root(args));
  auto events = make_progress_output(args);
  registry::Client client(registry_options(args), events.get());
  print_summary(args, unpack_rootfs(client, store, ref, dir, options), dir);
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
          "built beside DIR and renamed); an existing empty DIR is emptied again on failure.",
      .options = kOptions,
      .takes_common_options = true,
      .run = run,
  };
}

}  // namespace gantry::tools
