// Whiteouts (image-spec layer.md, "Whiteouts"): removals in flatten mode,
// overlayfs's own form in snapshot mode.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "unpack/detail/apply_impl.hpp"
#include "unpack/detail/apply_lower.hpp"
#include "unpack/detail/fs_path.hpp"
#include "unpack/detail/fs_remove.hpp"
#include "unpack/detail/fs_resolve.hpp"

namespace gantry::unpack {

namespace {

using detail::CleanPath;
using detail::FileHandle;

// `.wh.NAME` deletes NAME of the lower layers, `.wh..wh..opq` hides all lower
// content of its directory, and other names behind `.wh..wh.` are reserved.
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kReservedPrefix = ".wh..wh.";

}  // namespace

bool detail::is_whiteout_name(std::string_view base) noexcept { return base.starts_with(kWhiteoutPrefix); }

// image-spec layer.md, "Whiteouts". Whiteouts are resolved through the root
// handle like any name, so one below a symlink to "/" or "../.." removes
// inside the root, and never appear in the result themselves. A whiteout
// of a name this layer itself creates (before or after it in the tar) keeps
// the layer's own entry, as containerd does: layer.md says whiteouts apply
// to lower layers only. What of the lower layer it still hides (the content
// of a lower directory the layer's directory merged into) goes.
void Applier::Impl::apply_whiteout(const CleanPath& path, const TarEntry& entry) {
  const std::string_view base = path.base_view();
  const bool snapshot = options_.mode == ApplyMode::snapshot;
  if (base == kOpaqueMarker) {
    ++stats_.whiteouts;
    if (snapshot) {
      // overlayfs form: the directory exists in this snapshot, marked opaque.
      (void)dir_for(path.parent, entry, true);
      auto [dir, err] = detail::open_in_root(root_.get(), path.parent.c_str(), O_RDONLY | O_DIRECTORY);
      if (!dir) throw detail::parent_error(err, entry);
      detail::mark_opaque(dir.get(), entry.path);
      return;
    }
    const int dir = dir_for(path.parent, entry, false).fd;
    if (dir >= 0) prune_lower(dir, path.parent, entry);
    return;
  }
  if (base.starts_with(kReservedPrefix)) return;  // reserved by layer.md: nothing to apply
  const std::string name(base.substr(kWhiteoutPrefix.size()));
  if (name.empty() || name == "." || name == "..") {
    throw detail::entry_error(core::ErrorKind::unsafe_path, "whiteout names no sibling", entry);
  }
  ++stats_.whiteouts;
  const std::string target = detail::join_path(path.parent, name);
  const int parent = dir_for(path.parent, entry, snapshot).fd;
  if (parent < 0) return;  // nothing below a missing directory to delete
  if (created_.contains(target)) {
    FileHandle own(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!own) return;  // this layer's non-directory already replaced the lower one
    if (snapshot) detail::mark_opaque(own.get(), entry.path);
    else prune_lower(own.get(), target, entry);
    return;
  }
  remove_existing(parent, name.c_str(), entry);
  if (snapshot && ::mknodat(parent, name.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
    throw core::errno_error(errno, "cannot create whiteout", entry.path);
  }
}

// Flatten mode's opaque directory: everything in it that this layer did not
// create goes, also inside directories this layer kept (their lower content
// is hidden as well), so an opaque marker listed after its siblings spares
// them. prune_lower never leaves `dir_fd`: names are removed with
// unlinkat and descended into with O_NOFOLLOW.
void Applier::Impl::prune_lower(int dir_fd, const std::string& dir, const TarEntry& entry) {
  for (const std::string& name : detail::list_dir(dir_fd, entry.path)) {
    const std::string child = detail::join_path(dir, name);
    if (!created_.contains(child)) {
      remove_existing(dir_fd, name.c_str(), entry);
      continue;
    }
    FileHandle sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub) {
      prune_lower(sub.get(), child, entry);
    } else if (errno != ENOTDIR && errno != ELOOP) {
      throw core::errno_error(errno, "cannot open directory", child);
    }
  }
}

}  // namespace gantry::unpack
