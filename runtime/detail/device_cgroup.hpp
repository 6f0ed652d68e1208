#pragma once
// The device cgroup of a container where cgroup v1's devices controller is
// mounted (v1 and hybrid machines, as here), as runc sets it for Docker:
// everything denied, then mknod of any node and read/write of the standard
// ones allowed (null, zero, full, random, urandom, tty, console, ptmx,
// pts). Defence in depth beside nodev mounts (container_init's devices):
// a device node reached some other way (a mount that is not nodev, a
// descriptor's magic link under /proc/self/fd) still does not open. On a
// pure cgroup v2 machine a BPF device program would be needed; there the
// nodev mounts alone keep host devices out.

#include <optional>
#include <string>

namespace gantry::runtime::detail {

class DeviceCgroup {
 public:
  // DEVICES/gantry/NAME, its rules written, or nothing where no devices
  // controller is mounted (or only read-only). Error(io) when one is but
  // the cgroup cannot be made. NAME: unique per container (its directory's
  // name).
  [[nodiscard]] static std::optional<DeviceCgroup> create(const std::string& name);
  // The cgroup a killed gantry left for NAME, if any (empty by then).
  static void remove_stale(const std::string& name);

  DeviceCgroup(DeviceCgroup&& other) noexcept : path_(std::move(other.path_)), tasks_(std::move(other.tasks_)) {
    other.path_.clear();
  }
  DeviceCgroup& operator=(DeviceCgroup&&) = delete;
  DeviceCgroup(const DeviceCgroup&) = delete;
  DeviceCgroup& operator=(const DeviceCgroup&) = delete;
  ~DeviceCgroup();  // removed: its processes have all exited by then

  // Where the container's first process, single-threaded, writes "0" to
  // join it, before it runs anything of the image.
  [[nodiscard]] const std::string& tasks_path() const { return tasks_; }

 private:
  explicit DeviceCgroup(std::string path) : path_(std::move(path)), tasks_(path_ + "/tasks") {}

  std::string path_;
  std::string tasks_;
};

}  // namespace gantry::runtime::detail
