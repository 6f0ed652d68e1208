#pragma once
// seccomp profiles in Docker's JSON format (moby's profiles/seccomp, what
// `docker run --security-opt seccomp=FILE` reads) and the filter one of them
// gives a container: Docker's default profile (runtime/seccomp/default.json,
// built into gantry) unless told otherwise.
//
// A profile is runtime-spec's LinuxSeccomp plus conditions: an `archMap`
// (the host's architecture and its sub-architectures) and, per rule,
// `includes`/`excludes` by the container's capabilities (its bounding set),
// the host's architecture (Go's names: amd64, arm64, x86...) and minimum
// kernel. Resolving it for a container and a host drops the rules whose
// conditions fail, as moby's setupSeccomp does; what is left is what
// runc gets in config.json's linux.seccomp, and what gantry run compiles.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::runtime {

enum class SeccompAction { kill_thread, kill_process, trap, errno_return, trace, allow, log };
enum class SeccompCompare { not_equal, less, less_equal, equal, greater_equal, greater, masked_equal };

// runtime-spec names: SCMP_ACT_ERRNO, SCMP_CMP_MASKED_EQ...
[[nodiscard]] std::string_view to_string(SeccompAction action);
[[nodiscard]] std::string_view to_string(SeccompCompare compare);

struct SeccompArg {
  unsigned index = 0;  // 0..5
  std::uint64_t value = 0;
  std::uint64_t value_two = 0;  // the value masked_equal compares with, after masking with `value`
  SeccompCompare op = SeccompCompare::equal;
};

struct SeccompRule {
  std::vector<std::string> names;
  SeccompAction action = SeccompAction::allow;
  std::optional<unsigned> errno_ret = std::nullopt;  // errno/trace; absent: EPERM
  std::vector<SeccompArg> args{};                    // all must hold (runc: unless two test one index)
};

struct KernelVersion {
  unsigned kernel = 0;  // the 6 of 6.1.2
  unsigned major = 0;   // the 1 of 6.1.2
  auto operator<=>(const KernelVersion&) const = default;
};

struct SeccompFilterCondition {
  std::vector<std::string> caps{};
  std::vector<std::string> arches{};
  std::optional<KernelVersion> min_kernel = std::nullopt;
};

struct SeccompProfileRule {
  SeccompRule rule;
  std::optional<SeccompFilterCondition> includes = std::nullopt;
  std::optional<SeccompFilterCondition> excludes = std::nullopt;
};

struct SeccompArchMapEntry {
  std::string architecture;  // SCMP_ARCH_X86_64
  std::vector<std::string> sub_architectures;
};

struct SeccompProfile {
  SeccompAction default_action = SeccompAction::errno_return;
  std::optional<unsigned> default_errno_ret = std::nullopt;
  std::vector<std::string> architectures{};  // used as they are; or:
  std::vector<SeccompArchMapEntry> arch_map{};
  std::vector<std::string> flags{};  // SECCOMP_FILTER_FLAG_*
  std::vector<SeccompProfileRule> syscalls{};
};

// What a container gets: runtime-spec's LinuxSeccomp.
struct SeccompFilterSpec {
  SeccompAction default_action = SeccompAction::errno_return;
  std::optional<unsigned> default_errno_ret = std::nullopt;
  std::vector<std::string> architectures{};  // besides the native one
  std::vector<std::string> flags{};
  std::vector<SeccompRule> syscalls{};
};

// The host, as a profile's conditions see it.
struct SeccompHost {
  std::string arch;       // Go's name, as in `includes.arches`: amd64
  std::string scmp_arch;  // as in `archMap`: SCMP_ARCH_X86_64
  KernelVersion kernel;
};

// The machine gantry runs on (uname's release; the build's architecture).
[[nodiscard]] const SeccompHost& this_host();

// A profile from its JSON text; `origin` names it in errors. nullopt for
// a profile with no defaultAction and no syscalls, which moby reads as
// "unconfined". Error(bad_input) for malformed JSON, an unknown action,
// comparison, architecture or flag, an argument index over 5, an errno over
// 4095, `name` and `names` in one rule, `architectures` with `archMap`;
// Error(unsupported) for SCMP_ACT_NOTIFY (gantry has no seccomp agent).
// Syscall names are not checked: a name this libseccomp does not know is
// skipped when the filter is compiled, as runc does.
[[nodiscard]] std::optional<SeccompProfile> parse_seccomp_profile(std::string_view json, std::string_view origin);

// Docker's default profile, built into gantry (parsed once).
[[nodiscard]] const SeccompProfile& default_seccomp_profile();

// --security-opt seccomp=VALUE: "unconfined" is nullopt; else VALUE is a
// profile file (at most 4 MiB) read and parsed. Error(io) when it cannot
// be read.
[[nodiscard]] std::optional<SeccompProfile> seccomp_profile_option(const std::string& value);

// The rules that apply to a container with the bounding set `capabilities`
// on `host`, and the architectures: `architectures` as given, or the
// host's archMap entry with its sub-architectures.
[[nodiscard]] SeccompFilterSpec resolve_seccomp_profile(const SeccompProfile& profile,
                                                        const std::vector<std::string>& capabilities,
                                                        const SeccompHost& host = this_host());

// runtime-spec's linux.seccomp for `filter`, as Docker hands it to runc
// (compact JSON): also what identifies a compiled filter.
[[nodiscard]] std::string to_runtime_spec_json(const SeccompFilterSpec& filter);

}  // namespace gantry::runtime
