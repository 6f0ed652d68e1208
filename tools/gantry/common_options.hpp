#pragma once
// The options every image command shares (DESIGN.md, "Common options"), and
// their translation into the store and the registry client's options.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "core/reference.hpp"
#include "core/store.hpp"
#include "engine/image_unpack.hpp"
#include "registry/options.hpp"
#include "tools/gantry/args.hpp"

namespace gantry::tools {

// --store and --quiet, two of them, alone for the commands that only touch the store.
inline constexpr OptionSpec kStoreOption{
    .name = "store", .value_name = "DIR", .help = "the image store (default $GANTRY_STORE, /var/lib/gantry as root)"};
inline constexpr OptionSpec kQuietOption{
    .name = "quiet", .value_name = "", .help = "no progress output", .short_name = 'q'};

[[nodiscard]] std::span<const OptionSpec> common_options();

// --store, else core::ContentStore::default_root().
[[nodiscard]] std::filesystem::path store_root(const ParsedArgs& args);
// The store at store_root() if there is one (its index.json), else nullopt:
// for the commands that only read or remove, which must not make one.
[[nodiscard]] std::optional<core::ContentStore> existing_store(const ParsedArgs& args,
                                                               core::StoreLease lease = core::StoreLease::taken);
// --json, alone for the commands that only touch the store.
inline constexpr OptionSpec kJsonOption{.name = "json", .value_name = "", .help = "print JSON instead of a table"};
// Throws Error(bad_input) for a malformed --platform, --mirror, --jobs, host or file.
[[nodiscard]] registry::Options registry_options(const ParsedArgs& args);
// "123", "64K", "512M", "20G", "1T" (binary units); Error(bad_input) naming the flag.
[[nodiscard]] std::int64_t parse_size(std::string_view flag, const std::string& text);
// --pull missing|always|never (docker run's), `fallback` when absent;
// Error(bad_input) for another word.
[[nodiscard]] engine::PullPolicy pull_policy(const ParsedArgs& args, engine::PullPolicy fallback);
// Error(bad_input) when a command that takes none is given arguments.
void refuse_positionals(const ParsedArgs& args, std::string_view command);
// Every positional argument as a reference; at least `min` of them.
[[nodiscard]] std::vector<core::Reference> references(const ParsedArgs& args, std::size_t min,
                                                      std::string_view command);

}  // namespace gantry::tools
