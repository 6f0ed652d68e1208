#pragma once
// Docker's default seccomp profile, runtime/seccomp/default.json, as built
// into gantry (CMake writes its bytes into a source file: see
// runtime/CMakeLists.txt and runtime/seccomp/NOTICE).

#include <string_view>

namespace gantry::runtime::detail {

[[nodiscard]] std::string_view default_seccomp_profile_json();

}  // namespace gantry::runtime::detail
