// gantry inspect [opts] REF: what the registry says the image is, as JSON.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "registry/client.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"

namespace gantry::tools {
namespace {

int run(const ParsedArgs& args) {
  auto refs = references(args, 1, "inspect");
  if (refs.size() > 1) {
    throw core::Error(core::ErrorKind::bad_input, "gantry inspect: one reference at a time");
  }
  registry::Client client(registry_options(args), nullptr);
  registry::ResolvedImage image = client.resolve(refs.front());

  // The documents are printed as the registry served them (re-indented),
  // so what a user reads is what the digests cover.
  nlohmann::ordered_json out;
  out["reference"] = image.reference.string();
  out["digest"] = image.manifest_descriptor.digest.string();
  out["media_type"] = image.manifest_descriptor.media_type;
  out["platform"] = image.platform.string();
  if (image.index_descriptor) {
    out["index"] = {{"digest", image.index_descriptor->digest.string()},
                    {"media_type", image.index_descriptor->media_type}};
  }
  out["manifest"] = nlohmann::ordered_json::parse(image.manifest_bytes);
  out["config"] = nlohmann::ordered_json::parse(image.config_bytes);
  std::string text = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

Command inspect_command() {
  return Command{
      .name = "inspect",
      .synopsis = "[OPTIONS] REF",
      .summary = "print the resolved manifest and config as JSON",
      .description =
          "Resolves REF against its registry (through an index to the manifest for\n"
          "--platform, the host's by default) and prints one JSON object: the reference,\n"
          "the manifest digest, media type and platform, the index it came through, and\n"
          "the manifest and config documents. Nothing is stored.",
      .options = {},
      .takes_common_options = true,
      .run = run,
  };
}

}  // namespace gantry::tools
