// gantry images [--store DIR] [--json]: every image the store holds under a
// reference, one row per platform pulled.
#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/store_listing.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {
namespace {

constexpr std::array kOptions = {kStoreOption, kJsonOption};

nlohmann::ordered_json as_json(const engine::ListedImage& image) {
  nlohmann::ordered_json j{{"reference", image.name},
                           {"digest", image.manifest.digest.string()},
                           {"media_type", image.manifest.media_type},
                           {"index_digest", nullptr},
                           {"platform", image.platform.string()},
                           {"size", image.compressed_bytes},
                           {"unpacked_size", nullptr},
                           {"layers", image.layers},
                           {"snapshots", image.snapshots_present}};
  if (image.index) j["index_digest"] = image.index->digest.string();
  if (image.unpacked_bytes) j["unpacked_size"] = *image.unpacked_bytes;
  return j;
}

void print_table(const std::vector<engine::ListedImage>& images) {
  std::size_t width = 9;
  for (const engine::ListedImage& image : images) width = std::max(width, image.name.size());
  std::printf("%-*s  %-14s  %-19s  %-19s  %10s  %10s  %s\n", static_cast<int>(width), "REFERENCE", "PLATFORM",
              "DIGEST", "INDEX", "SIZE", "UNPACKED", "SNAPSHOTS");
  for (const engine::ListedImage& image : images) {
    const std::string snapshots = std::to_string(image.snapshots_present) + "/" + std::to_string(image.layers);
    std::printf("%-*s  %-14s  %-19s  %-19s  %10s  %10s  %s\n", static_cast<int>(width), image.name.c_str(),
                image.platform.string().c_str(), short_digest(image.manifest.digest).c_str(),
                image.index ? short_digest(image.index->digest).c_str() : "-",
                human_bytes(image.compressed_bytes).c_str(),
                image.unpacked_bytes ? human_bytes(*image.unpacked_bytes).c_str() : "-", snapshots.c_str());
  }
}

int run(const ParsedArgs& args) {
  refuse_positionals(args, "images");
  std::vector<engine::ListedImage> images;
  // A store that does not exist holds nothing, and is not made to say so.
  if (std::optional<core::ContentStore> store = existing_store(args, core::StoreLease::none)) {
    images = engine::list_images(*store);
  }
  if (args.flag("json")) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const engine::ListedImage& image : images) out.push_back(as_json(image));
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    print_table(images);
  }
  return 0;
}

}  // namespace

Command images_command() {
  return Command{
      .name = "images",
      .synopsis = "[--store DIR] [--json]",
      .summary = "list the images in the store",
      .description =
          "One row per image the store holds under a reference: REFERENCE as pulled, the\n"
          "PLATFORM, the image manifest's DIGEST and, when the reference names a multi-platform\n"
          "index, that INDEX's digest (each platform pulled is a row of its own), SIZE as the\n"
          "registry sends it (config and compressed layers), UNPACKED on disk over the layer\n"
          "snapshots present (\"-\" when none is: `pull` without --unpack), and SNAPSHOTS\n"
          "present of the layers. --json prints the same as an array of objects (sizes in\n"
          "bytes, null where the table says \"-\"). An empty or absent store lists nothing.",
      .options = kOptions,
      .takes_common_options = false,
      .run = run,
  };
}

}  // namespace gantry::tools
