#pragma once
// A snapshot committed before its files reached the disk carries a mark: an
// extended attribute of its own directory holding the boot it was written
// in and when. In that boot the page cache is what every reader sees, so
// the snapshot is complete; after a power loss (another boot) it may not
// be, and counts as absent until built again. A sync of the filesystem
// (ContentStore::settle_snapshots) makes it durable and removes the mark.
//
// Why an xattr of the directory itself: the mark is set before the rename
// that puts the snapshot in place, on the very inode the rename moves, so a
// journaling filesystem that kept the rename kept the mark; a file beside
// it would be a second inode whose write could be lost on its own. It is a
// "trusted." attribute, which only CAP_SYS_ADMIN reads or sets; a
// container's root is its own upper directory, so no container sees it (an
// overlay of lower directories only shows it on its root until settled).

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace gantry::core::detail {

struct UnsyncedMark {
  std::string boot;                 // /proc/sys/kernel/random/boot_id when it was set
  std::chrono::seconds at{};        // CLOCK_BOOTTIME when it was set

  [[nodiscard]] bool this_boot() const;
};

// This boot's id, read once.
[[nodiscard]] const std::string& current_boot();
[[nodiscard]] std::chrono::seconds boot_clock();

// Sets the mark on a directory (this boot, now). False when the filesystem
// or the caller's privileges do not allow it (the caller then syncs).
[[nodiscard]] bool set_unsynced_mark(int dir_fd, const std::filesystem::path& dir);
// The directory's mark, if it has one (none when the directory is gone;
// Error(io) when it cannot be read).
[[nodiscard]] std::optional<UnsyncedMark> unsynced_mark(const std::filesystem::path& dir);
// Removes it, after the filesystem was synced; a mark already gone is fine.
void clear_unsynced_mark(const std::filesystem::path& dir);

}  // namespace gantry::core::detail
