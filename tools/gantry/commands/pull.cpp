// gantry pull [opts] REF...: every blob of each image verified into the store,
// the reference recorded in index.json.
#include <cstdio>
#include <span>

#include "core/store.hpp"
#include "registry/client.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {
namespace {

// What a script wants from a pull: the exact image it got.
void print_pulled(const registry::PullResult& result) {
  std::printf("%s@%s\n", result.image.reference.name().c_str(),
              result.image.manifest_descriptor.digest.string().c_str());
}

int run(const ParsedArgs& args) {
  auto refs = references(args, 1, "pull");
  core::ContentStore store(store_root(args));
  auto events = make_progress_output(args);
  registry::Client client(registry_options(args), events.get());
  const bool print = !args.flag("json");

  if (refs.size() == 1) {
    auto result = client.pull(refs.front(), store);
    if (print) print_pulled(result);
    return 0;
  }
  // Several images: shared blobs are fetched once, one failure does not stop
  // the others, and each failure gets its own line.
  int failures = 0;
  for (const auto& outcome : client.pull(std::span<const core::Reference>(refs), store)) {
    if (outcome.result) {
      if (print) print_pulled(*outcome.result);
    } else {
      ++failures;
      std::fprintf(stderr, "gantry: error: %s: %s\n", outcome.reference.string().c_str(),
                   outcome.error ? outcome.error->what() : "failed");
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
          "fetched again; an interrupted download resumes where it stopped. Prints\n"
          "NAME@DIGEST for each image pulled.",
      .options = {},
      .takes_common_options = true,
      .run = run,
  };
}

}  // namespace gantry::tools
