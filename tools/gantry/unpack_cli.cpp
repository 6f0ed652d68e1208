#include "tools/gantry/unpack_cli.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/gantry/common_options.hpp"
#include "tools/gantry/interrupt.hpp"
#include "engine/layer_window.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {

engine::EngineOptions engine_options(const ParsedArgs& args) {
  const registry::Options client = registry_options(args);
  engine::EngineOptions options{
      .unpack = {.layers_in_flight = engine::layers_in_flight(client.jobs),
                 .platform = client.platform.value_or(core::Platform::host()),
                 .stop = interrupt_token()}};
  if (auto size = args.value(kMaxLayerSizeOption.name)) {
    options.unpack.max_layer_size = parse_size(kMaxLayerSizeOption.name, *size);
  }
  return options;
}

registry::Options interruptible_registry_options(const ParsedArgs& args) {
  registry::Options options = registry_options(args);
  options.stop = interrupt_token();
  return options;
}

void print_unpack_summary(const ParsedArgs& args, const engine::UnpackReport& report, std::string_view rootfs) {
  std::int64_t entries = 0, bytes = 0, uncompressed = 0, devices_skipped = 0, xattrs_skipped = 0;
  for (const auto& layer : report.layers) {
    entries += layer.applied.entries;
    bytes += layer.applied.bytes;
    uncompressed += layer.uncompressed_bytes;
    devices_skipped += layer.applied.devices_skipped;
    xattrs_skipped += layer.applied.xattrs_skipped;
  }
  const std::string reference = report.image.reference.string();
  if (args.flag("json")) {
    nlohmann::ordered_json j{{"event", "unpacked"},
                             {"v", core::progress::kEventsVersion},
                             {"t", report.ready_seconds},
                             {"image", reference},
                             {"reference", reference},
                             {"digest", report.image.manifest_descriptor.digest.string()}};
    if (rootfs.empty()) {
      nlohmann::json dirs = nlohmann::json::array();
      for (const auto& dir : report.snapshots) dirs.push_back(dir.string());
      j["snapshots"] = std::move(dirs);
    } else {
      j["rootfs"] = rootfs;
    }
    j["layers"] = report.image.manifest.layers.size();
    j["layers_unpacked"] = report.layers.size();
    j["entries"] = entries;
    j["file_bytes"] = bytes;
    j["uncompressed_bytes"] = uncompressed;
    j["devices_skipped"] = devices_skipped;
    j["xattrs_skipped"] = xattrs_skipped;
    j["fetched_bytes"] = report.fetched.bytes_fetched;
    j["seconds"] = report.seconds;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  if (args.flag("quiet")) return;
  const std::size_t layers = report.image.manifest.layers.size();
  const std::string where = rootfs.empty() ? "snapshots" : std::string(rootfs);
  std::string skipped;
  if (devices_skipped > 0) skipped += ", " + std::to_string(devices_skipped) + " devices skipped (not root)";
  if (xattrs_skipped > 0) skipped += ", " + std::to_string(xattrs_skipped) + " xattrs not set";
  std::fprintf(stderr, "unpacked %s into %s: %zu of %zu layer%s, %lld entries, %s of files%s, %.2f s\n",
               reference.c_str(), where.c_str(), report.layers.size(), layers, layers == 1 ? "" : "s",
               static_cast<long long>(entries), human_bytes(bytes).c_str(), skipped.c_str(), report.seconds);
}

}  // namespace gantry::tools
