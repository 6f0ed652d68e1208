#pragma once
// Compiled seccomp filters kept between runs. libseccomp takes 20-40 ms
// here to compile Docker's default profile for x86_64 with its x86 and x32
// sub-architectures (most of it for the sub-architectures), more than all
// the rest of a warm `gantry run`; reading the program back takes
// microseconds.
//
// DIR/<key>.bpf, where the key is the sha256 of the filter's runtime-spec
// JSON (the rules left after the capability, architecture and kernel
// conditions) and of libseccomp's version, holds the program followed by
// the hex sha256 of key and program. A file that does not verify (torn,
// truncated, edited) is compiled again and replaced; a cache that cannot be
// written only costs the compile time.

#include <filesystem>

#include "runtime/seccomp_program.hpp"

namespace gantry::runtime {

// `filter` compiled, from DIR when it holds a verified copy (DIR is made
// when missing; an empty DIR is no cache).
[[nodiscard]] SeccompProgram cached_seccomp_program(const SeccompFilterSpec& filter, const std::filesystem::path& dir);

}  // namespace gantry::runtime
