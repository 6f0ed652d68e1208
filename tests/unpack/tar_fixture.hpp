#pragma once
// Test helpers: tar streams written by libarchive (an independent writer), and
// gzip by zlib, for the reader and pipeline tests.

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gantry::unpack::testing {

struct FileSpec {
  std::string path;
  std::string content{};
  unsigned type = AE_IFREG;  // AE_IFDIR, AE_IFLNK, ...
  std::string link{};        // symlink target, or hardlink target with `hardlink`
  bool hardlink = false;
  std::vector<std::pair<std::string, std::string>> xattrs{};
};

inline la_ssize_t append_to_string(archive*, void* out, const void* data, std::size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
  return static_cast<la_ssize_t>(size);
}

inline std::string make_tar(const std::vector<FileSpec>& files) {
  archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::string tar;
  if (archive_write_open(a, &tar, nullptr, append_to_string, nullptr) != ARCHIVE_OK) throw std::runtime_error("open");
  for (const FileSpec& f : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, f.path.c_str());
    archive_entry_set_filetype(e, f.type);
    archive_entry_set_perm(e, f.type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (f.hardlink) archive_entry_set_hardlink(e, f.link.c_str());
    if (f.type == AE_IFLNK) archive_entry_set_symlink(e, f.link.c_str());
    for (const auto& [name, value] : f.xattrs) archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
    archive_entry_set_size(e, f.type == AE_IFREG && !f.hardlink ? static_cast<la_int64_t>(f.content.size()) : 0);
    archive_write_header(a, e);
    if (f.type == AE_IFREG && !f.hardlink) archive_write_data(a, f.content.data(), f.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return tar;
}

// Tar written byte by byte, for what libarchive's writer will not write: it
// derives a pax ACL's user::/group::/other:: entries from the mode, so it
// cannot write a header mode that an ACL contradicts (GNU tar --acls can).
inline std::string tar_octal(std::uint64_t value, int digits) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%0*llo", digits, static_cast<unsigned long long>(value));
  return buffer;
}

inline std::string tar_padded(std::string bytes) {
  bytes.resize((bytes.size() + 511) / 512 * 512, '\0');
  return bytes;
}

inline std::string ustar_header(const std::string& name, unsigned mode, std::size_t size, char type) {
  std::string h(512, '\0');
  auto put = [&](std::size_t at, const std::string& value) { h.replace(at, value.size(), value); };
  put(0, name.substr(0, 100));
  put(100, tar_octal(mode, 7));
  put(108, tar_octal(0, 7));
  put(116, tar_octal(0, 7));
  put(124, tar_octal(size, 11));
  put(136, tar_octal(1700000000, 11));
  h[156] = type;
  put(257, std::string("ustar\0" "00", 8));
  put(148, "        ");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  put(148, tar_octal(sum, 6));
  h[154] = '\0';
  return h;
}

// One "%d key=value\n" record: the length counts its own digits.
inline std::string pax_record(const std::string& key, const std::string& value) {
  const std::string body = " " + key + "=" + value + "\n";
  std::size_t n = body.size() + 1;
  while (std::to_string(n).size() + body.size() != n) n = std::to_string(n).size() + body.size();
  return std::to_string(n) + body;
}

// A regular file with a pax extended header holding `records`.
inline std::string raw_pax_file(const std::string& path, unsigned mode,
                                const std::vector<std::pair<std::string, std::string>>& records,
                                const std::string& content) {
  std::string pax;
  for (const auto& [key, value] : records) pax += pax_record(key, value);
  return ustar_header("PaxHeader/" + path, 0644, pax.size(), 'x') + tar_padded(pax) +
         ustar_header(path, mode, content.size(), '0') + tar_padded(content);
}

inline std::string tar_end() { return std::string(1024, '\0'); }

inline std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(static_cast<uLong>(data.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace gantry::unpack::testing
