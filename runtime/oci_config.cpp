#include "runtime/oci_config.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace gantry::runtime {

namespace {

using json = nlohmann::ordered_json;

json mount(std::string destination, std::string type, std::string source, std::vector<std::string> options = {}) {
  json m{{"destination", std::move(destination)}, {"type", std::move(type)}, {"source", std::move(source)}};
  if (!options.empty()) m["options"] = std::move(options);
  return m;
}

json mounts(const BundleOptions& options) {
  std::vector<std::string> devpts{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"};
  if (!options.rootless) devpts.push_back("gid=5");  // tty: no such group mapped when rootless
  json list = json::array({
      mount("/proc", "proc", "proc"),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts", devpts),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
  });
  if (options.rootless) {
    list.push_back(mount("/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"}));
  } else {
    list.push_back(mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
    list.push_back(mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}));
  }
  return list;
}

json linux_section(const BundleOptions& options) {
  json namespaces = json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (options.isolated_network) namespaces.push_back({{"type", "network"}});
  json section;
  if (options.rootless) {
    namespaces.push_back({{"type", "user"}});
    section["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", options.host_uid}, {"size", 1}}});
    section["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", options.host_gid}, {"size", 1}}});
  } else {
    section["resources"] = {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  }
  section["namespaces"] = std::move(namespaces);
  section["maskedPaths"] = {"/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                            "/sys/firmware",       "/proc/scsi"};
  section["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  if (options.seccomp) {
    section["seccomp"] = json::parse(to_runtime_spec_json(resolve_seccomp_profile(*options.seccomp, default_capabilities())));
  }
  return section;
}

}  // namespace

const std::vector<std::string>& default_capabilities() {
  static const std::vector<std::string> caps{
      "CAP_CHOWN",          "CAP_DAC_OVERRIDE", "CAP_FSETID",   "CAP_FOWNER",          "CAP_MKNOD",
      "CAP_NET_RAW",        "CAP_SETGID",       "CAP_SETUID",   "CAP_SETFCAP",         "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",     "CAP_AUDIT_WRITE"};
  return caps;
}

std::string oci_config_json(const ProcessSpec& process, const BundleOptions& options) {
  if (options.rootless && (process.user.uid != 0 || process.user.gid != 0 || !process.user.additional_gids.empty())) {
    // One id is mapped: the caller's, as root. Others would be refused by
    // the runtime at start ("cannot set uid to unmapped user").
    throw core::Error(core::ErrorKind::bad_input,
                      "a rootless bundle maps only your own id, as root: the process cannot run as " +
                          std::to_string(process.user.uid) + ":" + std::to_string(process.user.gid) +
                          (process.user.additional_gids.empty() ? "" : " with supplementary groups"));
  }
  json user{{"uid", process.user.uid}, {"gid", process.user.gid}};
  if (!process.user.additional_gids.empty()) user["additionalGids"] = process.user.additional_gids;
  const auto& caps = default_capabilities();
  json config{
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", options.terminal},
        {"user", std::move(user)},
        {"args", process.args},
        {"env", process.env},
        {"cwd", process.cwd},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", false}}},
      {"hostname", options.hostname},
      {"mounts", mounts(options)},
      {"linux", linux_section(options)},
  };
  return config.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace gantry::runtime
