// gantry inspect [opts] REF: what the registry (or the store) says the
// image is, as JSON.
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/stored_image.hpp"
#include "registry/client.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"

namespace gantry::tools {
namespace {

constexpr std::array kOptions = {
    OptionSpec{.name = "local", .value_name = "",
               .help = "from the store only, without a registry (the same as --pull never)"},
    OptionSpec{.name = "pull", .value_name = "always|missing|never",
               .help = "ask the registry (default), the store first, or the store only"},
};

// The image as the store holds it, for the platform asked; nullopt when it
// does not (a store that does not exist is not made for the question).
std::optional<registry::ResolvedImage> stored(const ParsedArgs& args, const core::Reference& reference,
                                              const registry::Options& options) {
  const std::optional<core::ContentStore> store = existing_store(args);
  if (!store) return std::nullopt;
  return engine::resolve_stored(reference, *store, options.platform.value_or(core::Platform::host()));
}

registry::ResolvedImage resolve(const ParsedArgs& args, const core::Reference& reference) {
  const registry::Options options = registry_options(args);
  engine::PullPolicy policy = pull_policy(args, engine::PullPolicy::always);
  if (args.flag("local")) {
    if (args.value("pull") && policy != engine::PullPolicy::never) {
      throw core::Error(core::ErrorKind::bad_input, "gantry inspect: --local reads the store only, not with --pull " +
                                                        *args.value("pull"));
    }
    policy = engine::PullPolicy::never;
  }
  if (policy != engine::PullPolicy::always) {
    if (std::optional<registry::ResolvedImage> image = stored(args, reference, options)) return std::move(*image);
    if (policy == engine::PullPolicy::never) {
      throw core::Error(core::ErrorKind::not_found, "the image is not in the store (and --local or --pull never)",
                        {.registry = reference.registry, .repository = reference.repository,
                         .path = store_root(args).string()});
    }
  }
  registry::Client client(options, nullptr);
  return client.resolve(reference);
}

int run(const ParsedArgs& args) {
  auto refs = references(args, 1, "inspect");
  if (refs.size() > 1) {
    throw core::Error(core::ErrorKind::bad_input, "gantry inspect: one reference at a time");
  }
  const registry::ResolvedImage image = resolve(args, refs.front());

  // The documents are printed as the registry served them (re-indented),
  // so what a user reads is what the digests cover; the store keeps them
  // byte for byte, and re-verifies them when they are read.
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
          "the manifest and config documents. Nothing is stored.\n"
          "--local (or --pull never) answers from the store without a registry: the\n"
          "image a pull left there for REF and the platform (an error if there is none);\n"
          "--pull missing asks the store first and the registry only when it lacks it.",
      .options = kOptions,
      .takes_common_options = true,
      .run = run,
  };
}

}  // namespace gantry::tools
