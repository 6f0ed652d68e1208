#include "unpack/tar_reader.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <algorithm>
#include <exception>
#include <memory>

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
// BINARY, GNU, ustar) stay raw. Set for the reading thread only.
class Utf8Locale {
 public:
  Utf8Locale() : locale_(newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr))) {
    if (locale_ != static_cast<locale_t>(nullptr)) previous_ = uselocale(locale_);
  }
  ~Utf8Locale() {
    if (locale_ == static_cast<locale_t>(nullptr)) return;
    uselocale(previous_);
    freelocale(locale_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t locale_;
  locale_t previous_ = static_cast<locale_t>(nullptr);
};

struct ReadContext {
  ByteSource* source;
  std::exception_ptr error;  // the source's, rethrown instead of libarchive's message
};

la_ssize_t read_callback(archive* a, void* opaque, const void** buffer) {
  auto* context = static_cast<ReadContext*>(opaque);
  try {
    auto bytes = context->source->read();
    *buffer = bytes.data();
    return static_cast<la_ssize_t>(bytes.size());
  } catch (...) {
    context->error = std::current_exception();
    archive_set_error(a, EIO, "source failed");
    return -1;
  }
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

void to_entry(archive_entry* e, TarEntry& out, const std::string& layer) {
  const char* path = archive_entry_pathname(e);
  if (path == nullptr) throw Error(ErrorKind::bad_input, "layer tar: entry without a name", {.digest = layer});
  out.path = path;
  out.type = entry_type(e, out.path, layer);
  const char* link = out.type == EntryType::hardlink  ? archive_entry_hardlink(e)
                     : out.type == EntryType::symlink ? archive_entry_symlink(e)
                                                      : nullptr;
  out.link_target = link ? link : "";
  out.mode = static_cast<std::uint32_t>(archive_entry_perm(e)) & 07777;
  out.uid = archive_entry_uid(e);
  out.gid = archive_entry_gid(e);
  out.size = archive_entry_size(e);
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
    to_entry(e, entry, layer);
    data.start_entry();
    on_entry(entry, data);
  }
}

}  // namespace gantry::unpack
