#include "runtime/detail/device_cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::runtime::detail {

namespace {

// Where Debian, systemd and Docker mount the v1 devices controller.
constexpr const char* kControllerRoot = "/sys/fs/cgroup/devices";
constexpr const char* kGantryCgroups = "/sys/fs/cgroup/devices/gantry";

// runc's default rules (libcontainer/specconv AllowedDevices): mknod of any
// node ('m', so images that make nodes still work, as under Docker), read
// and write of the standard ones. pts: UNIX98_PTY_MAJOR (136).
constexpr const char* kAllowed[] = {"c *:* m", "b *:* m",   "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                                    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"};

void write_rule(const std::string& file, const char* rule) {
  core::FileHandle fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw core::errno_error(errno, "cannot open", file);
  const std::string_view text(rule);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw core::errno_error(errno, std::string("cannot write \"") + rule + "\" to", file);
  }
}

}  // namespace

std::optional<DeviceCgroup> DeviceCgroup::create(const std::string& name) {
  if (::access((std::string(kControllerRoot) + "/devices.allow").c_str(), F_OK) != 0) return std::nullopt;
  if (::mkdir(kGantryCgroups, 0755) != 0 && errno != EEXIST) {
    // Read-only (as /sys/fs/cgroup inside a Docker container): not ours to
    // manage, as if there were no controller; nodev still holds.
    if (errno == EROFS) return std::nullopt;
    throw core::errno_error(errno, "cannot create", kGantryCgroups);
  }
  const std::string path = std::string(kGantryCgroups) + "/" + name;
  if (::mkdir(path.c_str(), 0755) != 0) throw core::errno_error(errno, "cannot create", path);
  DeviceCgroup cgroup(path);  // removed again if a rule cannot be written
  write_rule(path + "/devices.deny", "a");
  for (const char* rule : kAllowed) write_rule(path + "/devices.allow", rule);
  return cgroup;
}

void DeviceCgroup::remove_stale(const std::string& name) {
  ::rmdir((std::string(kGantryCgroups) + "/" + name).c_str());  // absent where there is no controller
}

DeviceCgroup::~DeviceCgroup() {
  if (!path_.empty()) ::rmdir(path_.c_str());
}

}  // namespace gantry::runtime::detail
