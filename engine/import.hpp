#pragma once
// Images into the store from an archive other tools wrote (`gantry import`):
// the tar `gantry export` and `docker save` (25 and later) write — an OCI
// image layout plus Docker's manifest.json — read as a stream (a pipe is
// fine: blobs may come before index.json, as docker's archives order them),
// or an OCI image layout directory (`skopeo copy ... oci:DIR:NAME`).
//
// Every blob goes through the store's verifying writer (its digest is its
// name, its size the archive's), so nothing unverified lands in blobs/.
// References are recorded last, once everything each one reaches is in the
// store: an import that fails records none, and what it stored is left for
// gc (it is content-addressed: nothing looks complete that is not).

#include <filesystem>
#include <string>
#include <vector>

#include "core/descriptor.hpp"
#include "core/store.hpp"

namespace gantry::engine {

struct ImportedImage {
  std::string name;         // as Reference::string()
  core::Descriptor target;  // what index.json now records for it
};

// Each index.json entry is named by its "io.containerd.image.name", else by
// an "org.opencontainers.image.ref.name" that is a whole reference, else by
// manifest.json's RepoTags for its config. Errors, each naming `what` (the
// file, or "-"): Error(bad_input) for a malformed archive or an image
// without a name, Error(not_found) for a blob an image needs that neither
// the archive nor the store holds, Error(digest_mismatch) for a blob whose
// bytes are not its name's, Error(io) when another process is writing a
// blob the archive holds (try again) or the store cannot be written.
[[nodiscard]] std::vector<ImportedImage> import_archive(core::ContentStore& store, int fd, const std::string& what);
[[nodiscard]] std::vector<ImportedImage> import_layout(core::ContentStore& store, const std::filesystem::path& dir);

}  // namespace gantry::engine
