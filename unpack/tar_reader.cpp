#include "unpack/tar_reader.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "core/error.hpp"

namespace gantry::unpack {

using core::Error;
using core::ErrorKind;

namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

// libarchive converts PAX's UTF-8 names into the locale's charset; in the C
// locale a non-ASCII name would only come back with a warning. Under
// C.UTF-8 it is the identity, and names stored as raw bytes (hdrcharset
// BINARY, GNU, ustar) stay raw. Set for the reading thread only. The locale
// is made once per process and never freed: loading it for every layer
// would cost as much, and read the locale files again, each time.
class Utf8Locale {
 public:
  Utf8Locale() {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (utf8 != static_cast<locale_t>(nullptr)) previous_ = uselocale(utf8);
  }
  ~Utf8Locale() {
    if (previous_ != static_cast<locale_t>(nullptr)) uselocale(previous_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t previous_ = static_cast<locale_t>(nullptr);  // uselocale never returns null
};

constexpr std::size_t kTarBlock = 512;

// The stream's last bytes handed to libarchive: the source's current span
// (valid until the next read) and a copy of the 512 bytes before it. That is
// enough to see an entry's own ustar header again once libarchive has read
// it, whichever chunks it straddled.
class RecentBytes {
 public:
  // Before the source's next read: the current span is valid until then.
  void retire_current() {
    // The new tail: the last 512 bytes of tail + current.
    std::array<std::byte, kTarBlock> tail{};
    const std::size_t from_current = std::min(current_.size(), kTarBlock);
    const std::size_t from_tail = std::min(tail_size_, kTarBlock - from_current);
    std::copy_n(tail_.begin() + static_cast<std::ptrdiff_t>(tail_size_ - from_tail), from_tail, tail.begin());
    std::copy_n(current_.end() - static_cast<std::ptrdiff_t>(from_current), from_current,
                tail.begin() + static_cast<std::ptrdiff_t>(from_tail));
    tail_ = tail;
    tail_size_ = from_tail + from_current;
    current_start_ += static_cast<std::int64_t>(current_.size());
    current_ = {};
  }
  void set_current(std::span<const std::byte> bytes) { current_ = bytes; }

  // The 512 bytes ending at stream offset `end`, if still at hand.
  [[nodiscard]] bool block_before(std::int64_t end, std::array<std::byte, kTarBlock>& out) const {
    const std::int64_t start = end - static_cast<std::int64_t>(kTarBlock);
    const std::int64_t tail_start = current_start_ - static_cast<std::int64_t>(tail_size_);
    if (start < tail_start || end > current_start_ + static_cast<std::int64_t>(current_.size())) return false;
    for (std::size_t i = 0; i < kTarBlock; ++i) {
      const std::int64_t at = start + static_cast<std::int64_t>(i);
      out[i] = at < current_start_ ? tail_[static_cast<std::size_t>(at - tail_start)]
                                   : current_[static_cast<std::size_t>(at - current_start_)];
    }
    return true;
  }

 private:
  std::span<const std::byte> current_;
  std::int64_t current_start_ = 0;
  std::array<std::byte, kTarBlock> tail_{};
  std::size_t tail_size_ = 0;
};

struct ReadContext {
  ByteSource* source;
  std::exception_ptr error;  // the source's, rethrown instead of libarchive's message
  RecentBytes recent{};
};

la_ssize_t read_callback(archive* a, void* opaque, const void** buffer) {
  auto* context = static_cast<ReadContext*>(opaque);
  try {
    context->recent.retire_current();
    auto bytes = context->source->read();
    context->recent.set_current(bytes);
    *buffer = bytes.data();
    return static_cast<la_ssize_t>(bytes.size());
  } catch (...) {
    context->error = std::current_exception();
    archive_set_error(a, EIO, "source failed");
    return -1;
  }
}

// A tar number field as libarchive reads it (tar_atol): base-256 when the
// first byte has its high bit set (GNU), else octal after leading blanks.
std::uint64_t tar_number(const std::byte* field, std::size_t width) {
  const auto* p = reinterpret_cast<const unsigned char*>(field);
  std::uint64_t value = 0;
  if ((p[0] & 0x80) != 0) {
    for (std::size_t i = 1; i < width; ++i) value = (value << 8) | p[i];
    return value;
  }
  std::size_t i = 0;
  while (i < width && (p[i] == ' ' || p[i] == '\t')) ++i;
  for (; i < width && p[i] >= '0' && p[i] <= '7'; ++i) value = value * 8 + (p[i] - '0');
  return value;
}

// The mode field of a ustar header block, if `block` is one of an entry
// (not a pax, GNU long-name or other meta header): its checksum must match,
// as libarchive checks it (unsigned or signed byte sums).
std::optional<std::uint32_t> header_mode(const std::array<std::byte, kTarBlock>& block) {
  constexpr std::size_t kChecksum = 148, kChecksumWidth = 8, kMode = 100, kModeWidth = 8, kTypeflag = 156;
  std::int64_t unsigned_sum = 0, signed_sum = 0;
  for (std::size_t i = 0; i < kTarBlock; ++i) {
    const bool in_checksum = i >= kChecksum && i < kChecksum + kChecksumWidth;
    const auto byte = static_cast<unsigned char>(in_checksum ? std::byte{' '} : block[i]);
    unsigned_sum += byte;
    signed_sum += static_cast<signed char>(byte);
  }
  const auto stored = static_cast<std::int64_t>(tar_number(&block[kChecksum], kChecksumWidth));
  if (stored != unsigned_sum && stored != signed_sum) return std::nullopt;
  const auto type = static_cast<char>(block[kTypeflag]);
  if (std::string_view("xXgLKAVMN").find(type) != std::string_view::npos) return std::nullopt;
  return static_cast<std::uint32_t>(tar_number(&block[kMode], kModeWidth) & 07777);
}

class Reader {
 public:
  Reader(ByteSource& source, const std::string& layer) : layer_(layer), context_{&source, nullptr} {
    archive_.reset(archive_read_new());
    if (!archive_) throw Error(ErrorKind::io, "libarchive: out of memory");
    archive_read_support_format_tar(archive_.get());
    if (archive_read_open(archive_.get(), &context_, nullptr, read_callback, nullptr) != ARCHIVE_OK) fail("open");
  }

  // Libarchive's status below WARN is fatal for this entry; the source's own
  // error, if that is what stopped it, is the real cause.
  [[noreturn]] void fail(const char* step) {
    if (context_.error) std::rethrow_exception(context_.error);
    const char* why = archive_error_string(archive_.get());
    throw Error(ErrorKind::bad_input, std::string("layer tar: ") + step + ": " + (why ? why : "unreadable"),
                core::ErrorContext{.digest = layer_});
  }

  archive* get() { return archive_.get(); }

  // The current entry's permission bits as its ustar header has them.
  // libarchive folds a pax access ACL's user::, group:: and other:: entries
  // into the entry's mode (header 0640 with group::rw- reads 0660, 0700
  // with a permissive ACL 0777). The header's mode is authoritative, as in
  // GNU tar and Go's archive/tar (containerd, umoci), and ACLs are not
  // applied, as containerd and umoci ignore SCHILY.acl.* records. The
  // header is the block just consumed; where it is not (the map of a pax
  // sparse 1.0 file, GNU sparse extension blocks follow it) libarchive's
  // mode stands.
  [[nodiscard]] std::uint32_t entry_mode(archive_entry* e) const {
    std::array<std::byte, kTarBlock> block{};
    if (context_.recent.block_before(archive_filter_bytes(archive_.get(), 0), block)) {
      if (auto mode = header_mode(block)) return *mode;
    }
    return static_cast<std::uint32_t>(archive_entry_perm(e)) & 07777;
  }

 private:
  std::string layer_;
  ReadContext context_;
  std::unique_ptr<archive, ArchiveDeleter> archive_;
};

// EntryData's contract: the last block ends exactly at the entry's size, so
// a sparse file ending in a hole gets a final empty block at that size
// (libarchive reports it as the offset of its end-of-data).
class ArchiveEntryData final : public EntryData {
 public:
  explicit ArchiveEntryData(Reader& reader) : reader_(reader) {}
  void start_entry() { ended_ = false; }
  bool next(std::int64_t& offset, std::span<const std::byte>& bytes) override {
    if (ended_) return false;
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t at = 0;
    int r = archive_read_data_block(reader_.get(), &block, &size, &at);
    if (r < ARCHIVE_WARN) reader_.fail("file data");
    offset = at;
    if (r == ARCHIVE_EOF) {
      ended_ = true;
      bytes = {};
    } else {
      bytes = {static_cast<const std::byte*>(block), size};
    }
    return true;
  }

 private:
  Reader& reader_;
  bool ended_ = false;
};

EntryType entry_type(archive_entry* e, const std::string& path, const std::string& layer) {
  if (archive_entry_hardlink(e) != nullptr) return EntryType::hardlink;
  switch (archive_entry_filetype(e)) {
    case AE_IFREG: return EntryType::regular;
    case AE_IFDIR: return EntryType::directory;
    case AE_IFLNK: return EntryType::symlink;
    case AE_IFCHR: return EntryType::char_device;
    case AE_IFBLK: return EntryType::block_device;
    case AE_IFIFO: return EntryType::fifo;
    default:
      throw Error(ErrorKind::unsupported, "layer tar: entry \"" + path + "\" has a type gantry cannot create",
                  core::ErrorContext{.digest = layer});
  }
}

void to_entry(const Reader& reader, archive_entry* e, TarEntry& out, const std::string& layer) {
  const char* path = archive_entry_pathname(e);
  if (path == nullptr) throw Error(ErrorKind::bad_input, "layer tar: entry without a name", {.digest = layer});
  out.path = path;
  out.type = entry_type(e, out.path, layer);
  const char* link = out.type == EntryType::hardlink  ? archive_entry_hardlink(e)
                     : out.type == EntryType::symlink ? archive_entry_symlink(e)
                                                      : nullptr;
  out.link_target = link ? link : "";
  out.mode = reader.entry_mode(e);
  out.uid = archive_entry_uid(e);
  out.gid = archive_entry_gid(e);
  out.size = archive_entry_size(e);
  out.sparse_segments = archive_entry_sparse_count(e);
  out.mtime_sec = archive_entry_mtime(e);
  out.mtime_nsec = archive_entry_mtime_nsec(e);
  out.dev_major = static_cast<std::uint32_t>(archive_entry_rdevmajor(e));
  out.dev_minor = static_cast<std::uint32_t>(archive_entry_rdevminor(e));
  out.xattrs.clear();
  archive_entry_xattr_reset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    // One name may come twice (libarchive's own writer records both
    // SCHILY.xattr and LIBARCHIVE.xattr); the later record wins.
    std::string v(static_cast<const char*>(value), size);
    auto same = std::find_if(out.xattrs.begin(), out.xattrs.end(), [&](const Xattr& x) { return x.name == name; });
    if (same != out.xattrs.end()) {
      same->value = std::move(v);
    } else {
      out.xattrs.push_back(Xattr{name, std::move(v)});
    }
  }
}

}  // namespace

void read_tar(ByteSource& source, const EntryHandler& on_entry, const std::string& layer) {
  Utf8Locale utf8;
  Reader reader(source, layer);
  ArchiveEntryData data(reader);
  TarEntry entry;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(reader.get(), &e);
    if (r == ARCHIVE_EOF) return;
    if (r < ARCHIVE_WARN) reader.fail("header");
    to_entry(reader, e, entry, layer);
    data.start_entry();
    on_entry(entry, data);
  }
}

}  // namespace gantry::unpack
