#pragma once
// The requests of the commands that pull many images (pull, prewarm): one
// per reference, or with --all-platforms one per platform each reference's
// index offers, carried out on the command's engine.

#include <functional>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "core/platform.hpp"
#include "core/reference.hpp"
#include "engine/engine.hpp"
#include "tools/gantry/args.hpp"
#include "tools/gantry/command_engine.hpp"

namespace gantry::tools {

inline constexpr OptionSpec kAllPlatformsOption{
    .name = "all-platforms", .value_name = "",
    .help = "every platform a multi-platform image offers, not only --platform's (the host's)"};

struct Outcome {
  core::Reference reference;
  std::optional<core::Platform> platform;  // asked for (--all-platforms)
  std::optional<engine::UnpackReport> report;
  std::optional<core::Error> error;

  // The reference, and the platform when one was asked for.
  [[nodiscard]] std::string label() const;
};

// Every reference on the engine at once (blobs and snapshots they share are
// done once). With `all_platforms`, each reference's platforms are asked
// for first (all at once), and its images go in rounds — round k holds the
// k-th platform of every reference — since the engine names an image by its
// reference; a reference whose platforms cannot be told is one failed
// outcome. `done` sees each outcome as it completes, in the order asked
// within its round. One failing does not stop the others.
std::vector<Outcome> carry_out_all(CommandEngine& images, const std::vector<core::Reference>& refs,
                                   engine::Goal goal, bool all_platforms,
                                   const std::function<void(const Outcome&)>& done = {});

}  // namespace gantry::tools
