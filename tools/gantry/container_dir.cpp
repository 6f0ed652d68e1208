#include "tools/gantry/container_dir.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <random>
#include <string_view>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "core/file_tree.hpp"
#include "engine/gc.hpp"
#include "engine/stale.hpp"
#include "runtime/launcher.hpp"

namespace gantry::tools {

namespace fs = std::filesystem;

namespace {

using core::Error;
using core::ErrorKind;

std::string new_container_id() {
  std::random_device random;
  char id[13];
  std::snprintf(id, sizeof id, "%06x%06x", random() & 0xffffff, random() & 0xffffff);
  return id;
}

void remove_stale(const fs::path& containers) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(containers, ec)) {
    if (!engine::left_by_dead_process(entry.path().filename().string(), engine::kRunningContainerMarker)) continue;
    ::umount2((entry.path() / "merged").c_str(), MNT_DETACH);  // mounted only if killed before exec
    runtime::remove_launch_leftovers(entry.path());
    try {
      core::remove_tree(entry.path());
    } catch (const Error&) {
      // Tried again by the next run.
    }
  }
}

// Another container has `name`: kept, or running (its gantry alive).
void refuse_taken(const fs::path& containers, const std::string& name) {
  if (fs::path kept = containers / name; fs::exists(fs::symlink_status(kept))) {
    throw Error(ErrorKind::bad_input,
                "the container name \"" + name + "\" is already in use by a kept container: remove " + kept.string() +
                    " or choose another name");
  }
  const std::string running = name + std::string(engine::kRunningContainerMarker);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(containers, ec)) {
    const std::string other = entry.path().filename().string();
    if (other.starts_with(running) && !engine::left_by_dead_process(other, engine::kRunningContainerMarker)) {
      throw Error(ErrorKind::bad_input, "the container name \"" + name + "\" is already in use by a running container (" +
                                            entry.path().string() + ")");
    }
  }
}

}  // namespace

void check_container_name(const std::string& name) {
  auto allowed = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (!first && (c == '_' || c == '.' || c == '-'));
  };
  bool valid = name.size() >= 2;
  for (std::size_t i = 0; valid && i < name.size(); ++i) valid = allowed(name[i], i == 0);
  if (!valid) {
    throw Error(ErrorKind::bad_input, "invalid container name \"" + name +
                                          "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, two characters at least");
  }
  if (name.find(engine::kRunningContainerMarker) != std::string::npos || name.size() > 128) {
    throw Error(ErrorKind::bad_input, "invalid container name \"" + name + "\": it may not hold \"" +
                                          std::string(engine::kRunningContainerMarker) + "\" nor exceed 128 characters");
  }
}

ContainerDir::ContainerDir(const core::ContentStore& store, bool keep, const core::Digest& image,
                           const std::optional<std::string>& name)
    : keep_(keep) {
  const fs::path containers = engine::containers_dir(store.root());
  std::error_code ec;
  fs::create_directories(containers, ec);
  if (ec) throw Error(ErrorKind::io, "cannot create: " + ec.message(), {.path = containers.string()});
  // Checking a name and claiming it is one step for every run of the store:
  // the containers directory's own flock (gc never removes the directory).
  core::FileHandle lock(::open(containers.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0) throw core::errno_error(errno, "cannot lock", containers.string());
  remove_stale(containers);
  if (name) refuse_taken(containers, *name);
  id_ = name.value_or(new_container_id());
  path_ = containers / (id_ + engine::owned_name(engine::kRunningContainerMarker));
  if (::mkdir(path_.c_str(), 0700) != 0) throw core::errno_error(errno, "cannot create", path_.string());
  if (keep_) engine::record_container_image(path_, image);
}

ContainerDir::~ContainerDir() {
  try {
    if (keep_) {
      // Never over another container: its name is this one's until now.
      const fs::path kept = path_.parent_path() / id_;
      if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, kept.c_str(), RENAME_NOREPLACE) != 0) {
        throw core::errno_error(errno, "cannot rename", kept.string());
      }
    } else {
      core::remove_tree(path_);
    }
  } catch (const Error&) {
    // The next run removes it; the container's status is what matters now.
  }
}

}  // namespace gantry::tools
