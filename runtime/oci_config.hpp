#pragma once
// An OCI runtime bundle's config.json (runtime-spec 1.0.2, Linux) for a
// process spec: what runc or crun run as it is. The defaults follow
// `runc spec` and Docker's: new PID, IPC, UTS and mount namespaces (and a
// network one with `isolated_network`), /proc, a tmpfs /dev with devpts,
// shm and mqueue, a read-only /sys, Docker's default capabilities,
// no_new_privs, runc's masked and read-only paths, RLIMIT_NOFILE 1024, and
// Docker's default seccomp profile (or the one given) resolved for those
// capabilities and this machine, as Docker writes linux.seccomp for runc.
// Rootless: a user namespace mapping the caller's uid and gid to 0, /sys
// bound from the host (sysfs cannot be mounted), no devpts gid, no cgroup
// mount, as `runc spec --rootless` writes.

#include <cstdint>
#include <string>

#include "runtime/process_spec.hpp"
#include "runtime/seccomp_profile.hpp"

namespace gantry::runtime {

struct BundleOptions {
  std::string hostname = "gantry";
  bool isolated_network = false;  // a new, empty network namespace (else the host's)
  bool rootless = false;
  std::uint32_t host_uid = 0;  // rootless: mapped to 0 in the container
  std::uint32_t host_gid = 0;
  bool terminal = false;
  // --security-opt seccomp=: nullopt is "unconfined".
  std::optional<SeccompProfile> seccomp = default_seccomp_profile();
};

// Docker's default capability set.
[[nodiscard]] const std::vector<std::string>& default_capabilities();

// The config.json text; the rootfs is "rootfs" beside it. Error(bad_input)
// for a rootless config whose process is not root (only one id is mapped).
[[nodiscard]] std::string oci_config_json(const ProcessSpec& process, const BundleOptions& options);

}  // namespace gantry::runtime
