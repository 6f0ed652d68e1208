#include "runtime/detail/overlay_mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::runtime::detail {

namespace {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorKind;

// mount(2) takes overlayfs's options in one page: with absolute lower dir
// paths, about 40 layers.
constexpr std::size_t kMaxMountData = 4095;

struct Failure {
  int err = 0;
  std::string detail;  // what the kernel said, if anything
};

// The new mount API, one lower dir per fsconfig call ("lowerdir+", Linux
// 6.8+): no page limit, only overlayfs's own. No chdir into the snapshots
// (containerd's way to shorten the paths), which would move every thread of
// this process. Returns the failure, if any; the caller falls back to mount(2).
std::optional<Failure> mount_with_fsconfig(const std::vector<fs::path>& lowers, const fs::path& upper,
                                           const fs::path& work, const fs::path& merged, UpperSync sync) {
  core::FileHandle context(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!context) return Failure{errno, {}};
  auto set = [&](const char* key, const fs::path& value) {
    return ::fsconfig(context.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0;
  };
  bool configured = set("source", "overlay");  // as mount(2)'s: /proc/mounts shows "overlay / overlay"
  for (const fs::path& lower : lowers) configured = configured && set("lowerdir+", lower);
  configured = configured && set("upperdir", upper) && set("workdir", work);
  if (sync == UpperSync::volatile_upper) {
    configured = configured && ::fsconfig(context.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0) == 0;
  }
  configured = configured && ::fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0;
  core::FileHandle mount;
  if (configured) mount = core::FileHandle(::fsmount(context.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV));
  if (mount && ::move_mount(mount.get(), "", AT_FDCWD, merged.c_str(), MOVE_MOUNT_F_EMPTY_PATH) == 0) {
    return std::nullopt;
  }
  Failure failure{errno, {}};
  // The context's log says why ("e overlay: ..."), a line at a time.
  char line[512];
  ssize_t n = ::read(context.get(), line, sizeof line - 1);
  if (n > 2) failure.detail.assign(line + 2, static_cast<std::size_t>(n - 2));
  return failure;
}

std::optional<Failure> mount_with_options(const std::vector<fs::path>& lowers, const fs::path& upper,
                                          const fs::path& work, const fs::path& merged, UpperSync sync) {
  std::string data = "lowerdir=";
  for (std::size_t i = 0; i < lowers.size(); ++i) {
    if (i > 0) data += ':';
    data += lowers[i].string();
  }
  data += ",upperdir=" + upper.string() + ",workdir=" + work.string();
  if (sync == UpperSync::volatile_upper) data += ",volatile";
  if (data.size() > kMaxMountData) return Failure{E2BIG, "too many layers for mount(2)'s options"};
  if (::mount("overlay", merged.c_str(), "overlay", MS_NODEV, data.c_str()) != 0) return Failure{errno, {}};
  return std::nullopt;
}

}  // namespace

OverlayMount::OverlayMount(const std::vector<fs::path>& lowers, const fs::path& container, UpperSync sync)
    : merged_(container / "merged") {
  if (lowers.size() > kMaxOverlayLayers) {
    throw Error(ErrorKind::unsupported, "too many layers for one overlayfs mount (" + std::to_string(lowers.size()) +
                                            ", at most " + std::to_string(kMaxOverlayLayers) + ")");
  }
  for (const char* dir : {"upper", "work", "merged"}) {
    if (::mkdir((container / dir).c_str(), 0755) != 0 && errno != EEXIST) {
      throw core::errno_error(errno, "cannot create", (container / dir).string());
    }
  }
  // Both ways mount it nodev: no device node of the image (or made by the
  // container's root) opens through it (container_init's devices).
  const fs::path upper = container / "upper", work = container / "work";
  std::optional<Failure> failed = mount_with_fsconfig(lowers, upper, work, merged_, sync);
  if (!failed) return;
  // Older kernels: no "lowerdir+" (or no fsopen); mount(2) can still stack
  // what fits in its page. Before Linux 5.10 no "volatile" either: such a
  // kernel syncs the upper at unmount, as it always did.
  std::optional<Failure> fallback = mount_with_options(lowers, upper, work, merged_, sync);
  if (fallback && sync == UpperSync::volatile_upper) {
    fallback = mount_with_options(lowers, upper, work, merged_, UpperSync::synced);
  }
  if (!fallback) return;
  const Failure& failure = failed->detail.empty() ? *fallback : *failed;  // the one the kernel explained
  const std::string why = failure.detail.empty() ? ::strerror(failure.err) : failure.detail;
  // ENODEV: no overlayfs; EINVAL: this filesystem cannot be its upper or
  // lower; E2BIG: more layers than this kernel stacks.
  const bool unsupported = failure.err == ENODEV || failure.err == EINVAL || failure.err == EOPNOTSUPP ||
                           failure.err == E2BIG;
  throw Error(unsupported ? ErrorKind::unsupported : ErrorKind::io, "cannot mount overlayfs: " + why,
              {.path = merged_.string()});
}

OverlayMount::~OverlayMount() { ::umount2(merged_.c_str(), MNT_DETACH); }

}  // namespace gantry::runtime::detail
