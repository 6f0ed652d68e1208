#include "core/lease.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string_view>

#include "core/detail/store_layout.hpp"
#include "core/error.hpp"

namespace gantry::core {
namespace {

namespace fs = std::filesystem;

void flock_or_throw(int fd, int operation, const fs::path& path) {
  int rc;
  do {
    rc = ::flock(fd, operation);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw errno_error(errno, "cannot lock", path.string());
}

void write_all(int fd, std::string_view text, const fs::path& path) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw errno_error(errno, "cannot write", path.string());
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string lease_name() {
  std::random_device random;
  return std::to_string(::getpid()) + "-" + std::to_string(random()) + std::to_string(random());
}

}  // namespace

Lease::~Lease() {
  if (!file_) return;
  ::unlink(path_.c_str());  // a file left behind has no flock: the next gc removes it
}

void Lease::create() {
  const fs::path dir = root_ / kLeasesDir;
  detail::make_directory(dir);
  gc_lock_ = open_file(dir / kGcLock, O_RDWR | O_CREAT);
  path_ = dir / lease_name();
}

void Lease::hold(const Digest& digest) {
  std::lock_guard lock(mutex_);
  std::string line = digest.string();
  if (held_.contains(line)) return;
  if (!gc_lock_) create();
  // Shared with other holders, exclusive of a gc: the file is made and
  // locked, and the line added, wholly before or wholly after a gc reads
  // the leases (a gc never sees a lease not yet locked, and removes it).
  flock_or_throw(gc_lock_.get(), LOCK_SH, path_.parent_path() / kGcLock);
  try {
    if (!file_) {
      FileHandle file = open_file(path_, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644);
      flock_or_throw(file.get(), LOCK_EX, path_);
      file_ = std::move(file);
    }
    write_all(file_.get(), line + "\n", path_);
  } catch (...) {
    ::flock(gc_lock_.get(), LOCK_UN);
    throw;
  }
  ::flock(gc_lock_.get(), LOCK_UN);
  held_.insert(std::move(line));
}

LiveLeases read_live_leases(const fs::path& store_root, bool remove_expired) {
  LiveLeases out;
  const fs::path dir = store_root / kLeasesDir;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return out;
  if (ec) throw errno_error(ec.value(), "cannot list", dir.string());
  for (const fs::directory_entry& entry : it) {
    const fs::path& path = entry.path();
    if (path.filename() == kGcLock) continue;
    auto [fd, err] = try_open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (!fd) {
      if (err == ENOENT) continue;  // its holder just ended
      throw errno_error(err, "cannot open lease", path.string());
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      // Nobody holds it: its process is gone.
      if (remove_expired && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw errno_error(errno, "cannot remove", path.string());
      }
      ++out.expired;
      continue;
    }
    if (errno != EWOULDBLOCK) throw errno_error(errno, "cannot lock", path.string());
    ++out.live;
    std::string text;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw errno_error(errno, "cannot read", path.string());
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      out.held.emplace(text, start, end - start);
    }
  }
  return out;
}

}  // namespace gantry::core
