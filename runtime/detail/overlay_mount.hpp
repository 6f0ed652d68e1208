#pragma once
// The overlay of a container's rootfs: the image's snapshots (lower, top
// first) under a fresh upper and work dir, mounted nodev at
// CONTAINER/merged in the host's mount namespace, where the parent reads
// the image's passwd and prepares the rootfs; the child takes a copy of it
// at clone, so this one is detached as soon as the child has exec'ed.

#include <filesystem>
#include <vector>

namespace gantry::runtime::detail {

// overlayfs's limit on lower layers (OVL_MAX_STACK).
inline constexpr std::size_t kMaxOverlayLayers = 500;

enum class UpperSync {
  synced,          // the upper is synced at unmount (and by syncfs) as usual
  // overlayfs's "volatile": no sync of the upper's filesystem, ever; after a
  // crash the upper cannot be mounted again. For an upper that goes at exit.
  volatile_upper,
};

class OverlayMount {
 public:
  // Error(unsupported) where overlayfs cannot stack these lower dirs here
  // (no overlayfs, an upper dir it refuses, too many layers): a flattened
  // copy still runs; Error(io) for other failures.
  OverlayMount(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& container,
               UpperSync sync);
  ~OverlayMount();
  OverlayMount(const OverlayMount&) = delete;
  OverlayMount& operator=(const OverlayMount&) = delete;

  [[nodiscard]] const std::filesystem::path& merged() const { return merged_; }

 private:
  std::filesystem::path merged_;
};

}  // namespace gantry::runtime::detail
