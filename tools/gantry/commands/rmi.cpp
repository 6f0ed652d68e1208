// gantry rmi [--store DIR] [-q] REF...: references out of the store's index.json;
// the blobs and snapshots they named stay (a reference removed frees no
// space by itself: collecting what nothing reaches is gc's).
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/store.hpp"
#include "tools/gantry/commands/commands.hpp"
#include "tools/gantry/common_options.hpp"

namespace gantry::tools {
namespace {

using core::Error;
using core::ErrorKind;

constexpr std::array kOptions = {kStoreOption, kQuietOption};

// What one argument names: a reference (its entry), or a bare digest
// (every entry of that manifest or index, whatever its name).
struct Asked {
  std::string text;
  std::optional<std::string> name;
  std::optional<core::Digest> digest;
  bool found = false;
};

// All parsed before anything is removed: a bad argument removes nothing.
std::vector<Asked> asked(const ParsedArgs& args) {
  if (args.positionals().empty()) {
    throw Error(ErrorKind::bad_input, "gantry rmi: missing image reference (see 'gantry rmi --help')");
  }
  std::vector<Asked> out;
  for (const std::string& text : args.positionals()) {
    if (text.starts_with("sha256:")) {
      out.push_back({.text = text, .name = std::nullopt, .digest = core::Digest::parse(text)});
    } else {
      out.push_back({.text = text, .name = core::Reference::parse(text).string(), .digest = std::nullopt});
    }
  }
  return out;
}

// An entry's name, or its digest for an entry other tools wrote without one.
std::string name_of(const core::Descriptor& entry) {
  return core::ref_name(entry).value_or(entry.digest.string());
}

int run(const ParsedArgs& args) {
  std::vector<Asked> wanted = asked(args);
  // A store that does not exist holds nothing, and is not made to say so.
  if (std::optional<core::ContentStore> store = existing_store(args, core::StoreLease::none)) {
    const std::vector<core::Descriptor> removed = store->remove_refs([&](const core::Descriptor& entry) {
      const std::string name = name_of(entry);
      bool match = false;
      for (Asked& a : wanted) {
        if ((a.name && *a.name == name) || (a.digest && *a.digest == entry.digest)) match = a.found = true;
      }
      return match;
    });
    if (!args.flag("quiet")) {
      for (const core::Descriptor& entry : removed) std::printf("untagged %s\n", name_of(entry).c_str());
    }
  }
  std::string missing;
  for (const Asked& a : wanted) {
    if (!a.found) missing += (missing.empty() ? "" : ", ") + a.text;
  }
  if (!missing.empty()) {
    throw Error(ErrorKind::not_found, "gantry rmi: not in the store: " + missing,
                {.path = store_root(args).string()});
  }
  return 0;
}

}  // namespace

Command rmi_command() {
  return Command{
      .name = "rmi",
      .synopsis = "[--store DIR] [-q] REF...",
      .summary = "remove references from the store",
      .description =
          "Removes each REF from the store's index.json and prints \"untagged NAME\" for\n"
          "every entry removed (-q: nothing). REF is a reference as pulled (NAME:TAG or NAME@DIGEST,\n"
          "normalised as for pull: busybox is docker.io/library/busybox:latest), or a bare\n"
          "digest sha256:HEX a name records (gantry images: the INDEX of a multi-platform\n"
          "image, else its DIGEST), which removes every name of that image. The blobs and\n"
          "snapshots stay until `gantry gc`: removing a reference frees no space by itself. A REF the\n"
          "store does not hold is an error naming it, after the others are removed; a\n"
          "malformed one removes nothing.",
      .options = kOptions,
      .takes_common_options = false,
      .run = run,
  };
}

}  // namespace gantry::tools
