#pragma once
// Images from the store as one tar archive that other tools load (`gantry
// export`): an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>)
// for `ctr images import` and `skopeo copy oci-archive:`, plus Docker's
// manifest.json for `docker load` and `skopeo copy docker-archive:`. Each
// blob is in it once however many images share it, and is streamed from its
// store file (re-verified against its digest) so memory stays bounded.

#include <filesystem>
#include <span>
#include <stop_token>

#include "core/store.hpp"
#include "registry/client.hpp"

namespace gantry::engine {

// The archive written to `fd` (a pipe or a file, written in order, never
// sought). Each image is named in index.json as docker save (25 and later)
// names it: its reference as "io.containerd.image.name", its tag as
// "org.opencontainers.image.ref.name"; and in manifest.json's RepoTags when
// the reference has a tag. Error(not_found)
// for a blob the store lacks, Error(digest_mismatch) for one altered in it:
// then what was written is not a complete archive. A stop requested on
// `stop` (SIGINT/SIGTERM) ends it at the next blob or chunk with
// Error(io) "interrupted".
void write_image_archive(const core::ContentStore& store, std::span<const registry::ResolvedImage> images, int fd,
                         std::stop_token stop = {});

// The archive in `file`: written to FILE.tmp, made durable, then renamed, so
// nothing half-written ever has the name; FILE.tmp is removed on failure
// (and on a stop).
void export_image_archive(const core::ContentStore& store, std::span<const registry::ResolvedImage> images,
                          const std::filesystem::path& file, std::stop_token stop = {});

}  // namespace gantry::engine
