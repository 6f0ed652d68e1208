#pragma once
// Image references in the docker grammar (distribution/reference):
//   [host[:port]/]path[:tag][@algo:hex]
// The first '/'-separated component is a host only when it contains '.' or
// ':' or is "localhost" (so "[::1]:5000/x" and "foo.io/x" name registries,
// "team/app" does not, and "foo:5000" is docker.io/library/foo tag 5000).
// Normalised as docker does: no host -> docker.io, index.docker.io ->
// docker.io, a one-component path on docker.io -> library/NAME, neither tag
// nor digest -> tag "latest"; a tag given with a digest is kept.

#include <optional>
#include <string>
#include <string_view>

#include "core/digest.hpp"

namespace gantry::core {

struct Reference {
  std::string registry;    // "docker.io", "localhost:5000", "[::1]:5000"
  std::string repository;  // "library/busybox", "team/app"
  std::string tag;         // empty when only a digest was given
  std::optional<Digest> digest;

  // Throws Error(bad_input) quoting the input with the reason (uppercase in
  // the path, tag over 128 characters, empty component, name over 255
  // characters, bad digest, a bare 64-hex image ID, ...); Error(unsupported)
  // for a well-formed digest of an algorithm other than sha256/sha512.
  [[nodiscard]] static Reference parse(std::string_view text);

  // The full normalised name: "docker.io/library/busybox:latest",
  // "localhost:5000/x@sha256:...", "host/x:tag@sha256:..." (both when given).
  [[nodiscard]] std::string string() const;
  // "registry/repository", no tag or digest.
  [[nodiscard]] std::string name() const;
  // What to ask /v2/<repo>/manifests/ for: the digest when given, else the tag.
  [[nodiscard]] std::string manifest_reference() const;
  // host[:port] to connect to for the registry: registry-1.docker.io for
  // docker.io, else `registry` itself (an IPv6 host keeps its brackets).
  [[nodiscard]] std::string endpoint_host() const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

}  // namespace gantry::core
