#include "core/detail/unsynced_mark.hpp"

#include <sys/xattr.h>
#include <time.h>

#include <array>
#include <cerrno>
#include <fstream>

#include "core/error.hpp"

namespace gantry::core::detail {

namespace {

constexpr const char* kMarkName = "trusted.gantry.unsynced";

}  // namespace

const std::string& current_boot() {
  static const std::string boot = [] {
    std::ifstream file("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(file, id);
    if (id.empty()) throw Error(ErrorKind::io, "cannot read the boot id", {.path = "/proc/sys/kernel/random/boot_id"});
    return id;
  }();
  return boot;
}

bool UnsyncedMark::this_boot() const { return boot == current_boot(); }

std::chrono::seconds boot_clock() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return std::chrono::seconds(now.tv_sec);
}

bool set_unsynced_mark(int dir_fd, const std::filesystem::path& dir) {
  const std::string value = current_boot() + " " + std::to_string(boot_clock().count());
  if (::fsetxattr(dir_fd, kMarkName, value.data(), value.size(), 0) == 0) return true;
  if (errno == EPERM || errno == ENOTSUP) return false;
  throw errno_error(errno, "cannot mark the snapshot", dir.string());
}

std::optional<UnsyncedMark> unsynced_mark(const std::filesystem::path& dir) {
  std::array<char, 128> value{};
  const ssize_t n = ::lgetxattr(dir.c_str(), kMarkName, value.data(), value.size());
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP || errno == ENOENT) return std::nullopt;
    throw errno_error(errno, "cannot read the snapshot's mark", dir.string());
  }
  // Anything that does not parse is no boot of ours: not trusted.
  const std::string text(value.data(), static_cast<std::size_t>(n));
  const auto space = text.find(' ');
  UnsyncedMark mark{.boot = text.substr(0, space)};
  if (space != std::string::npos) mark.at = std::chrono::seconds(std::strtoll(text.c_str() + space + 1, nullptr, 10));
  return mark;
}

void clear_unsynced_mark(const std::filesystem::path& dir) {
  if (::lremovexattr(dir.c_str(), kMarkName) != 0 && errno != ENODATA && errno != ENOENT) {
    throw errno_error(errno, "cannot clear the snapshot's mark", dir.string());
  }
}

}  // namespace gantry::core::detail
