#pragma once
// Where one cold run of `gantry bench` puts its store: a new directory, or
// with --cold-fs a freshly made ext4 filesystem (a sparse image file,
// mkfs.ext4 and a loop mount), because on ext4 creating files soon after
// deleting many is ~10x slower: a store removed by the run before would
// slow the next (README, "gantry bench").

#include <cstdint>
#include <filesystem>

namespace gantry::tools::bench {

class FreshFilesystem {
 public:
  // A new directory `base`/run (removed first if a killed bench left it),
  // or with `make_filesystem` an ext4 of `size` bytes made in the image
  // file `base`/fs.ext4 and mounted at `base`/run. Error(io) with the
  // failing command's output.
  FreshFilesystem(const std::filesystem::path& base, bool make_filesystem, std::int64_t size);
  // Unmounts (lazily if busy) and removes what it made.
  ~FreshFilesystem();
  FreshFilesystem(const FreshFilesystem&) = delete;
  FreshFilesystem& operator=(const FreshFilesystem&) = delete;

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path image_;  // empty: a plain directory
  std::filesystem::path dir_;
};

}  // namespace gantry::tools::bench
