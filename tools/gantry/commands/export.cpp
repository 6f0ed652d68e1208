// gantry export [opts] [-f FILE] REF... [-o FILE|-]: images from the store as one
// archive that ctr images import, docker load and skopeo read.
#include <unistd.h>

#include <array>
#include <future>
#include <vector>

#include "engine/export.hpp"
#include "tools/gantry/command_engine.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"
#include "tools/gantry/image_list.hpp"
#include "tools/gantry/interrupt.hpp"
#include "tools/gantry/unpack_cli.hpp"

namespace gantry::tools {
namespace {

constexpr std::array kOptions = {
    kImageListOption,
    OptionSpec{.name = "output", .value_name = "FILE|-", .help = "write the archive to FILE (via FILE.tmp, renamed when complete) or - for stdout (the default when stdout is not a terminal)", .short_name = 'o'},
    OptionSpec{.name = "pull", .value_name = "never|missing|always",
               .help = "take the images from the store only (default), pull those it lacks first, or pull every one again"},
};

// The images as the store (or a pull, per --pull) has them, in the order
// asked. The first one missing fails the command, named by its reference.
std::vector<registry::ResolvedImage> stored_images(CommandEngine& images, const std::vector<core::Reference>& refs) {
  std::vector<std::future<engine::UnpackReport>> requests;
  for (const core::Reference& ref : refs) requests.push_back(images.engine().submit({.reference = ref}));
  std::vector<registry::ResolvedImage> found;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    try {
      found.push_back(requests[i].get().image);
    } catch (const core::Error& e) {
      throw core::prefixed(e, refs[i].string());
    }
  }
  return found;
}

int run(const ParsedArgs& args) {
  const std::vector<core::Reference> refs = images_asked(args, "export");
  const std::string output = args.value("output").value_or("-");
  const bool to_stdout = output == "-";
  if (to_stdout && ::isatty(STDOUT_FILENO)) {
    throw core::Error(core::ErrorKind::bad_input, "gantry export: stdout is a terminal; give -o FILE or redirect it");
  }
  if (to_stdout && args.flag("json")) {
    throw core::Error(core::ErrorKind::bad_input, "gantry export: --json needs -o FILE (the archive goes to stdout)");
  }
  engine::EngineOptions options = engine_options(args);
  options.unpack.pull = pull_policy(args, engine::PullPolicy::never);
  CommandEngine images(args, std::move(options), interruptible_registry_options(args));
  const std::vector<registry::ResolvedImage> found = stored_images(images, refs);
  if (to_stdout) {
    engine::write_image_archive(images.store(), found, STDOUT_FILENO, interrupt_token());
  } else {
    engine::export_image_archive(images.store(), found, output, interrupt_token());
  }
  return 0;
}

}  // namespace

Command export_command() {
  return Command{
      .name = "export",
      .synopsis = "[OPTIONS] [-f FILE] REF... [-o FILE|-]",
      .summary = "write images from the store as one archive for ctr import, docker load and skopeo",
      .description =
          "Writes a tar archive of every REF and every reference listed in each -f FILE\n"
          "(read as gantry prewarm reads it; each image once): an OCI image layout\n"
          "(oci-layout, index.json naming each image as docker save does: REF as\n"
          "\"io.containerd.image.name\", its tag as \"org.opencontainers.image.ref.name\";\n"
          "blobs/sha256/<hex>) that `ctr images import`\n"
          "and `skopeo copy oci-archive:` read, and Docker's manifest.json for `docker load`\n"
          "and `skopeo copy docker-archive:`. A blob several images share is in it once. The\n"
          "blobs stream from the store, each checked again against its digest.\n"
          "The images come from the store: one it lacks is an error naming REF, unless\n"
          "--pull missing (pull those first) or --pull always. -o FILE writes FILE.tmp and\n"
          "renames it to FILE once complete (it is removed on failure); without -o, or with\n"
          "-o -, the archive goes to stdout, which must not be a terminal:\n"
          "  gantry export busybox:1.36 | ctr -n k8s.io images import -\n"
          "SIGINT or SIGTERM stop it at the next blob or chunk (FILE.tmp removed) with exit\n"
          "status 130 or 143.",
      .options = kOptions,
      .takes_common_options = true,
      .run = run,
      .stops_on_signal = true,
  };
}

}  // namespace gantry::tools
