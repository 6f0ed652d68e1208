#include "unpack/detail/apply_lower.hpp"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/error.hpp"
#include "unpack/detail/apply_attrs.hpp"

namespace gantry::unpack::detail {

namespace {

constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

bool is_opaque(int dir_fd) {
  char value = 0;
  return ::fgetxattr(dir_fd, kOpaqueXattr, &value, 1) == 1 && value == 'y';
}

std::vector<Xattr> read_xattrs(int fd, const std::string& what) {
  std::vector<Xattr> out;
  ssize_t size = ::flistxattr(fd, nullptr, 0);
  if (size < 0) {
    if (errno == ENOTSUP) return out;
    throw core::errno_error(errno, "cannot list xattrs", what);
  }
  std::string names(static_cast<std::size_t>(size), '\0');
  size = ::flistxattr(fd, names.data(), names.size());
  if (size < 0) throw core::errno_error(errno, "cannot list xattrs", what);
  names.resize(static_cast<std::size_t>(size));
  for (std::size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (name.empty() || is_overlay_private(name)) continue;
    ssize_t n = ::fgetxattr(fd, name.c_str(), nullptr, 0);
    if (n < 0) throw core::errno_error(errno, "cannot read xattr " + name, what);
    std::string value(static_cast<std::size_t>(n), '\0');
    n = ::fgetxattr(fd, name.c_str(), value.data(), value.size());
    if (n < 0) throw core::errno_error(errno, "cannot read xattr " + name, what);
    value.resize(static_cast<std::size_t>(n));
    out.push_back(Xattr{std::move(name), std::move(value)});
  }
  return out;
}

}  // namespace

bool is_whiteout(const struct stat& st) noexcept { return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); }

void mark_opaque(int dir_fd, std::string_view what) {
  if (::fsetxattr(dir_fd, kOpaqueXattr, "y", 1, 0) != 0) {
    throw core::errno_error(errno, "cannot mark directory opaque", std::string(what));
  }
}

std::optional<Found> find_in_layers(std::span<const int> layers, const std::string& name, bool overlay) {
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    FileHandle dir = dup_handle(layers[layer]);
    bool below_hidden = false;
    for (std::size_t start = 0;;) {
      std::size_t slash = name.find('/', start);
      std::string component = name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      struct stat st {};
      if (::fstatat(dir.get(), component.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) break;
        throw core::errno_error(errno, "cannot stat", name);
      }
      if (overlay && is_whiteout(st)) return std::nullopt;
      if (slash == std::string::npos) return Found{std::move(dir), std::move(component), st, layer};
      FileHandle next;
      if (S_ISDIR(st.st_mode)) {
        // A real directory: one step down from where the walk stands (the
        // same as resolving the prefix from the layer's root, which walks
        // every component again: a deep name would cost the square of its
        // depth per look-up, the cube over a deep tree's implicit parents).
        next = FileHandle(::openat(dir.get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) throw core::errno_error(errno, "cannot open directory", name.substr(0, slash));
      } else {
        // The walk so far, resolved inside this layer only: a symlink is
        // followed, confined to the layer.
        std::string prefix = name.substr(0, slash);
        auto [resolved, err] = open_in_root(layers[layer], prefix.c_str(), O_RDONLY | O_DIRECTORY);
        if (!resolved) {
          if (err == ENOENT) break;  // a dangling symlink: not in this layer
          if (err == ENOTDIR || err == ELOOP) return std::nullopt;  // a non-directory hides the lower ones
          throw core::errno_error(err, "cannot open directory", prefix);
        }
        next = std::move(resolved);
      }
      if (overlay && is_opaque(next.get())) below_hidden = true;
      dir = std::move(next);
      start = slash + 1;
    }
    if (below_hidden) return std::nullopt;
  }
  return std::nullopt;
}

LowerFile describe_lower(const Found& found, std::string path) {
  LowerFile out;
  TarEntry& e = out.entry;
  e.mode = found.st.st_mode & 07777;
  e.uid = found.st.st_uid;
  e.gid = found.st.st_gid;
  e.mtime_sec = found.st.st_mtim.tv_sec;
  e.mtime_nsec = found.st.st_mtim.tv_nsec;
  const int parent = found.parent.get();
  const char* base = found.base.c_str();
  auto open_it = [&](int flags) {
    out.file = FileHandle(::openat(parent, base, flags | O_NOFOLLOW | O_CLOEXEC));
    if (!out.file) throw core::errno_error(errno, "cannot open lower file", path);
    e.xattrs = read_xattrs(out.file.get(), path);
  };
  switch (found.st.st_mode & S_IFMT) {
    case S_IFREG:
      e.type = EntryType::regular;
      e.size = found.st.st_size;
      open_it(O_RDONLY);
      break;
    case S_IFDIR:
      e.type = EntryType::directory;
      open_it(O_RDONLY | O_DIRECTORY);
      break;
    case S_IFLNK: {
      e.type = EntryType::symlink;
      std::string target(static_cast<std::size_t>(found.st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(parent, base, target.data(), target.size());
      if (n < 0) throw core::errno_error(errno, "cannot read symlink", path);
      target.resize(static_cast<std::size_t>(n));
      e.link_target = std::move(target);
      break;
    }
    case S_IFCHR:
    case S_IFBLK:
      e.type = S_ISCHR(found.st.st_mode) ? EntryType::char_device : EntryType::block_device;
      e.dev_major = major(found.st.st_rdev);
      e.dev_minor = minor(found.st.st_rdev);
      break;
    case S_IFIFO:
      e.type = EntryType::fifo;
      break;
    default:
      throw core::Error(core::ErrorKind::unsupported, "lower file is a socket", core::ErrorContext{.path = path});
  }
  e.path = std::move(path);
  return out;
}

bool FileData::next(std::int64_t& offset, std::span<const std::byte>& bytes) {
  if (done_) return false;
  if (buffer_.empty()) buffer_.resize(1 << 20);
  while (pos_ < size_) {
    off_t data = ::lseek(fd_, pos_, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) throw core::errno_error(errno, "cannot seek", std::string(what_));
      break;  // only a hole up to the end
    }
    if (data >= size_) break;
    off_t hole = ::lseek(fd_, data, SEEK_HOLE);
    if (hole < 0) throw core::errno_error(errno, "cannot seek", std::string(what_));
    auto want = static_cast<std::size_t>(std::min<std::int64_t>({hole - data, size_ - data,
                                                                  static_cast<std::int64_t>(buffer_.size())}));
    ssize_t n;
    do {
      n = ::pread(fd_, buffer_.data(), want, data);
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw core::errno_error(errno, "cannot read", std::string(what_));
    if (n == 0) throw core::Error(core::ErrorKind::io, "lower file shrank while copied up",
                                  core::ErrorContext{.path = std::string(what_)});
    offset = data;
    bytes = std::span<const std::byte>(buffer_.data(), static_cast<std::size_t>(n));
    pos_ = data + n;
    return true;
  }
  done_ = true;
  offset = size_;
  bytes = {};
  return true;
}

}  // namespace gantry::unpack::detail
