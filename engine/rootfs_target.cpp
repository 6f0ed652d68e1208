#include "engine/rootfs_target.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "core/error.hpp"
#include "core/file_tree.hpp"
#include "engine/stale.hpp"

namespace gantry::engine {

using core::Error;
using core::ErrorKind;

namespace {

// Staging directories of gantry processes that died (SIGKILL, power loss)
// before they could clean up; a live process's stays.
void remove_stale_staging(const std::filesystem::path& parent, const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || !left_by_dead_process(name, prefix)) continue;
    try {
      core::remove_tree(entry.path());
    } catch (const Error&) {
      // Not ours to insist on: the next unpack beside it tries again.
    }
  }
}

// A hidden sibling of DIR named `.NAME<marker>PID`, stale ones of dead
// processes removed first.
std::filesystem::path sibling(const std::filesystem::path& parent, const std::filesystem::path& dir,
                              std::string_view marker) {
  std::string prefix = ".";
  prefix += dir.filename().string();
  prefix += marker;
  remove_stale_staging(parent, prefix);
  return parent / owned_name(prefix);
}

// Where upper layers stage entries: a sibling of the work directory, so on
// its filesystem; none when it cannot be made.
std::filesystem::path make_staged_area(const std::filesystem::path& parent, const std::filesystem::path& dir) {
  std::filesystem::path staged = sibling(parent, dir, ".gantry-staged-");
  return ::mkdir(staged.c_str(), 0700) == 0 ? staged : std::filesystem::path{};
}

// Whatever stops the unpack, the error to report is its own: what stays
// here carries this process's id, and the next unpack beside it removes it
// once this process has exited.
template <class Step>
void quietly(Step step) {
  try {
    step();
  } catch (const Error&) {
  }
}

}  // namespace

bool is_empty_directory_or_absent(const std::filesystem::path& dir, std::string_view what) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return false;
  std::string message(what);
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error(ErrorKind::bad_input, message.append(" exists and is not a directory"), {.path = dir.string()});
  }
  if (!std::filesystem::is_empty(dir, ec)) {
    throw Error(ErrorKind::bad_input, message.append(" directory is not empty"), {.path = dir.string()});
  }
  return true;
}

RootfsTarget::RootfsTarget(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  if (is_empty_directory_or_absent(dir_, "target")) {
    work_ = dir_;
    return;
  }
  const std::filesystem::path parent = std::filesystem::absolute(dir_).parent_path();
  std::filesystem::create_directories(parent, ec);
  if (ec) throw Error(ErrorKind::io, "cannot create the target's parent: " + ec.message(), {.path = parent.string()});
  work_ = sibling(parent, dir_, ".gantry-partial-");
  if (!std::filesystem::create_directory(work_, ec)) {
    throw Error(ErrorKind::io, "cannot create the target directory: " + ec.message(), {.path = work_.string()});
  }
  staged_ = make_staged_area(parent, dir_);
}

RootfsTarget::~RootfsTarget() {
  if (!staged_.empty()) quietly([&] { core::remove_tree(staged_); });
  if (committed_) return;
  // The staging directory goes; an existing DIR is left empty as it was found.
  quietly([&] {
    if (work_ == dir_) core::empty_directory(work_);
    else core::remove_tree(work_);
  });
}

std::filesystem::path RootfsTarget::staging_dir(std::size_t layer) const {
  return staged_.empty() ? staged_ : staged_ / std::to_string(layer);
}

void RootfsTarget::commit() {
  if (work_ != dir_ && ::rename(work_.c_str(), dir_.c_str()) != 0) {
    throw core::errno_error(errno, "rename into place", dir_.string());
  }
  committed_ = true;
}

}  // namespace gantry::engine
