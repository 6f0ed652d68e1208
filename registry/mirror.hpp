#pragma once
// Pull-through mirrors and the registry each one stands in for. As with
// Docker's `registry-mirrors`, a mirror given without a registry serves
// docker.io only: a Docker Hub cache must never answer for another
// registry's names (the same repository path there is another image).

#include <string>
#include <string_view>

namespace gantry::registry {

struct Mirror {
  std::string registry;  // as references name it: "docker.io", "localhost:5000"
  std::string host;      // host[:port] of the mirror

  friend bool operator==(const Mirror&, const Mirror&) = default;
};

// "HOST" (a docker.io mirror) or "REGISTRY=HOST", each host[:port] without
// a scheme ("index.docker.io" is docker.io, as in references).
// Error(bad_input) quoting the text for anything else: an empty side, a
// scheme, a path, a space or control character, a bad port.
[[nodiscard]] Mirror parse_mirror(std::string_view text);

}  // namespace gantry::registry
