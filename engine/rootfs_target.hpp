#pragma once
// Where a flattened rootfs is applied. DIR must be new or empty: unpacking
// over an existing tree would mix two images. A new DIR is built as a hidden
// sibling (.NAME.gantry-partial-PID) and renamed into place by commit(), so
// even a killed gantry never leaves a half-applied DIR behind (the next
// unpack beside it removes staging directories of dead processes); an
// existing empty DIR (perhaps a mount point, which cannot be renamed over)
// is filled in place and emptied again if the unpack fails.
//
// A new DIR gets a second hidden sibling (.NAME.gantry-staged-PID), on the
// same filesystem, for what upper layers stage while the ones below apply
// (ApplyOptions::staging_dir); it goes when the target is committed or
// abandoned. An existing DIR stages nothing: beside it is not gantry's to
// touch, and inside it any name may be an image's.

#include <cstddef>
#include <filesystem>
#include <string_view>

namespace gantry::engine {

// Where gantry writes a tree (a rootfs, a bundle) must be new or an empty
// directory: true when it exists (empty), false when it does not;
// Error(bad_input) naming `what` ("target") otherwise.
[[nodiscard]] bool is_empty_directory_or_absent(const std::filesystem::path& dir, std::string_view what);

class RootfsTarget {
 public:
  // Error(bad_input) when DIR is not a directory or not empty, Error(io).
  explicit RootfsTarget(std::filesystem::path dir);
  // Whatever stops the unpack (even resolving the reference), nothing
  // half-made stays.
  ~RootfsTarget();
  RootfsTarget(const RootfsTarget&) = delete;
  RootfsTarget& operator=(const RootfsTarget&) = delete;

  // Where the layers go.
  [[nodiscard]] const std::filesystem::path& work() const { return work_; }

  // Where layer `layer` may stage entries (a directory to be made), or
  // empty when nothing can be staged (an existing DIR).
  [[nodiscard]] std::filesystem::path staging_dir(std::size_t layer) const;

  void commit();

 private:
  std::filesystem::path dir_;
  std::filesystem::path work_;
  std::filesystem::path staged_;  // empty: none
  bool committed_ = false;
};

}  // namespace gantry::engine
