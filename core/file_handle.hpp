#pragma once
// A file descriptor that closes itself, and the I/O loops every caller would
// otherwise get subtly wrong: read(2) and write(2) may return early (signals,
// pipes, quotas), so each loop retries EINTR and carries on after a short
// transfer. Errors are Error(io) with strerror and the path.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace gantry::core {

class FileHandle {
 public:
  FileHandle() noexcept = default;
  explicit FileHandle(int fd) noexcept : fd_(fd) {}
  ~FileHandle() { reset(); }
  FileHandle(FileHandle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileHandle& operator=(FileHandle&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }

  // close(2) errors are ignored: on Linux the descriptor is gone either way,
  // and data that must be durable was fsynced before (an EINTR retry could
  // close a descriptor another thread just reused).
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// open(2), retried on EINTR (possible for FIFOs and some network filesystems).
// Returns the errno instead of throwing, for callers to whom ENOENT is news,
// not failure.
[[nodiscard]] inline std::pair<FileHandle, int> try_open(const std::filesystem::path& path, int flags,
                                                         mode_t mode = 0644) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return {FileHandle(fd), fd < 0 ? errno : 0};
}

[[nodiscard]] inline FileHandle open_file(const std::filesystem::path& path, int flags, mode_t mode = 0644) {
  auto [fd, err] = try_open(path, flags, mode);
  if (!fd) throw errno_error(err, "cannot open", path.string());
  return std::move(fd);
}

// Writes every byte at `offset` or throws. pwrite(2) keeps no file position,
// so a failed write leaves nothing to rewind. The path is only for the
// message: the hot path formats nothing.
inline void write_all_at(int fd, const void* data, std::size_t size, std::int64_t offset,
                         const std::filesystem::path& path) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, p, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error(errno, "cannot write", path.string());
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    offset += n;
  }
}

// Reads until `size` bytes or end of file; returns how many were read.
[[nodiscard]] inline std::size_t read_full(int fd, void* data, std::size_t size, const std::filesystem::path& path) {
  auto* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error(errno, "cannot read", path.string());
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

[[nodiscard]] inline struct stat stat_handle(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw errno_error(errno, "cannot stat", path.string());
  return st;
}

// A whole file, nullopt when it does not exist. Error(bad_input) when it is
// larger than max_size, so a hostile or corrupt file cannot exhaust memory.
[[nodiscard]] inline std::optional<std::string> read_file(const std::filesystem::path& path, std::size_t max_size) {
  auto [fd, err] = try_open(path, O_RDONLY);
  if (!fd) {
    if (err == ENOENT) return std::nullopt;
    throw errno_error(err, "cannot open", path.string());
  }
  auto size = static_cast<std::size_t>(stat_handle(fd.get(), path).st_size);
  if (size > max_size) {
    ErrorContext context;
    context.path = path.string();
    throw Error(ErrorKind::bad_input,
                "file of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(max_size),
                std::move(context));
  }
  std::string bytes(size, '\0');
  bytes.resize(read_full(fd.get(), bytes.data(), size, path));
  return bytes;
}

// fdatasync: the data and the size, not the timestamps — what a reader after
// a crash needs.
inline void sync_data(int fd, const std::filesystem::path& path) {
  if (::fdatasync(fd) != 0) throw errno_error(errno, "cannot sync", path.string());
}

// Makes a directory's entries durable: a rename or link is only safe across a
// crash once its directory is fsynced.
inline void sync_directory(const std::filesystem::path& dir) {
  FileHandle fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(fd.get()) != 0) throw errno_error(errno, "cannot sync directory", dir.string());
}

}  // namespace gantry::core
