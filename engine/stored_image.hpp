#pragma once
// The image a pull left in the store, read without a registry (docker run's
// "pull if missing", `--pull never`). Only the store is read, which is why
// this is the engine's and not the registry client's.

#include <optional>

#include "core/platform.hpp"
#include "core/reference.hpp"
#include "core/store.hpp"
#include "registry/client.hpp"

namespace gantry::engine {

// nullopt when index.json has no such ref, or none for `platform`: a ref
// naming a manifest for another platform, or an index whose manifest for
// `platform` was not pulled. The stored documents are re-verified against
// their digests.
[[nodiscard]] std::optional<registry::ResolvedImage> resolve_stored(const core::Reference& reference,
                                                                    const core::ContentStore& store,
                                                                    const core::Platform& platform);

}  // namespace gantry::engine
