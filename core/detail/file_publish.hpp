#pragma once
// Putting a file in place so that no reader ever sees it half-written, and it
// survives a crash once the call returns: write a uniquely named temporary,
// fdatasync it, then rename (replace) or link (first writer wins) it to its
// name and fsync the directory.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/file_handle.hpp"
#include "core/error.hpp"

namespace gantry::core::detail {

inline void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw errno_error(errno, "cannot rename " + from.string() + " to", to.string());
  }
}

// rename(2), then fsync of the target's directory.
inline void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  rename_file(from, to);
  sync_directory(to.parent_path());
}

enum class Publish {
  replace,        // rename: readers see the old file or the new one, never neither
  keep_existing,  // link: when `target` exists (another process won), it stays
};

// Writes `bytes` to a temporary in temp_dir (same filesystem as target), then
// publishes it at target. Returns false when keep_existing found a file there.
// The temporary never outlives the call.
inline bool publish_file(const std::filesystem::path& temp_dir, const std::filesystem::path& target,
                         std::string_view bytes, Publish how) {
  std::string temp = (temp_dir / (target.filename().string() + ".tmp.XXXXXX")).string();
  FileHandle fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) throw errno_error(errno, "cannot create a temporary file", temp);
  // Until renamed away, the temporary is ours to remove, whatever throws.
  struct RemoveTemp {
    const std::string& path;
    bool armed = true;
    ~RemoveTemp() {
      if (armed) ::unlink(path.c_str());
    }
  } remove_temp{temp};

  // mkostemp makes 0600; store files are content other tools (skopeo, umoci,
  // a non-root reader) must be able to read.
  if (::fchmod(fd.get(), 0644) != 0) throw errno_error(errno, "cannot chmod", temp);
  write_all_at(fd.get(), bytes.data(), bytes.size(), 0, temp);
  sync_data(fd.get(), temp);
  fd.reset();

  if (how == Publish::replace) {
    rename_file(temp, target);
    remove_temp.armed = false;
    sync_directory(target.parent_path());
    return true;
  }
  if (::link(temp.c_str(), target.c_str()) != 0) {
    if (errno == EEXIST) return false;
    throw errno_error(errno, "cannot link " + temp + " to", target.string());
  }
  sync_directory(target.parent_path());
  return true;
}

}  // namespace gantry::core::detail
