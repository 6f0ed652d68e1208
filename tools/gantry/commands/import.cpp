// gantry import [--store DIR] [-q] FILE|DIR|-: images from an archive
// (gantry export's, docker save's) or an OCI image layout directory into the
// store, as if pulled.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "engine/import.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"

namespace gantry::tools {
namespace {

constexpr std::array kOptions = {kStoreOption, kQuietOption};

int run(const ParsedArgs& args) {
  if (args.positionals().size() != 1) {
    throw core::Error(core::ErrorKind::bad_input, "gantry import: expected one FILE, DIR or - (see 'gantry import --help')");
  }
  const std::string source = args.positionals()[0];
  if (source == "-" && ::isatty(STDIN_FILENO)) {
    throw core::Error(core::ErrorKind::bad_input, "gantry import: stdin is a terminal; give FILE or pipe the archive in");
  }
  core::ContentStore store(store_root(args));
  std::vector<engine::ImportedImage> imported;
  if (source == "-") {
    imported = engine::import_archive(store, STDIN_FILENO, "-");
  } else if (std::error_code ec; std::filesystem::is_directory(source, ec)) {
    imported = engine::import_layout(store, source);
  } else {
    core::FileHandle file = core::open_file(source, O_RDONLY);
    imported = engine::import_archive(store, file.get(), source);
  }
  if (!args.flag("quiet")) {
    for (const engine::ImportedImage& image : imported) {
      std::printf("%s@%s\n", core::Reference::parse(image.name).name().c_str(), image.target.digest.string().c_str());
    }
  }
  return 0;
}

}  // namespace

Command import_command() {
  return Command{
      .name = "import",
      .synopsis = "[--store DIR] [-q] FILE|DIR|-",
      .summary = "load images from an archive or an OCI layout into the store",
      .description =
          "Reads the tar archive `gantry export` and `docker save` (25 and later) write -- an\n"
          "OCI image layout, with Docker's manifest.json -- from FILE or, with -, from stdin (a\n"
          "pipe is fine: it is read once, in order), or an OCI image layout directory DIR (as\n"
          "`skopeo copy ... oci:DIR:NAME` writes it), and stores every blob, each verified\n"
          "against its digest as it is written. Each image of index.json is named by its\n"
          "\"io.containerd.image.name\", else by an \"org.opencontainers.image.ref.name\" that\n"
          "is a whole reference, else by manifest.json's RepoTags. The names are recorded only\n"
          "once every image is complete in the store, and printed as NAME@DIGEST; a failed\n"
          "import records none (what it stored is left for gc).",
      .options = kOptions,
      .takes_common_options = false,
      .run = run,
  };
}

}  // namespace gantry::tools
