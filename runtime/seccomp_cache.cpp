#include "runtime/seccomp_cache.hpp"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::runtime {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kTrailer = 64;  // hex sha256
constexpr std::size_t kMaxFile = BPF_MAXINSNS * sizeof(sock_filter) + kTrailer;

// What the compiled program depends on: the rules and the compiler (the
// format line changes whenever compile_seccomp's output would).
std::string cache_key(const SeccompFilterSpec& filter) {
  const scmp_version* version = seccomp_version();
  core::Hasher hasher;
  hasher.update("gantry seccomp bpf 1\nlibseccomp " + std::to_string(version->major) + "." +
                std::to_string(version->minor) + "." + std::to_string(version->micro) + "\n");
  hasher.update(to_runtime_spec_json(filter));
  return hasher.finish().hex();
}

std::string seal(const std::string& key, const std::vector<sock_filter>& code) {
  core::Hasher hasher;
  hasher.update(key);
  hasher.update(code.data(), code.size() * sizeof(sock_filter));
  return hasher.finish().hex();
}

// The program in `path` if it is there and verifies.
std::optional<std::vector<sock_filter>> read_cached(const fs::path& path, const std::string& key) {
  std::optional<std::string> bytes;
  try {
    bytes = core::read_file(path, kMaxFile);
  } catch (const core::Error&) {
    return std::nullopt;  // unreadable or oversized: compiled again and replaced
  }
  if (!bytes || bytes->size() <= kTrailer || (bytes->size() - kTrailer) % sizeof(sock_filter) != 0) return std::nullopt;
  std::vector<sock_filter> code((bytes->size() - kTrailer) / sizeof(sock_filter));
  std::memcpy(code.data(), bytes->data(), code.size() * sizeof(sock_filter));
  if (bytes->compare(bytes->size() - kTrailer, kTrailer, seal(key, code)) != 0) return std::nullopt;
  return code;
}

// Best effort: a temporary beside it renamed into place, so that a reader
// sees a whole file or none.
void write_cached(const fs::path& path, const std::string& key, const std::vector<sock_filter>& code) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path temporary = path.string() + ".tmp-" + std::to_string(::getpid());
  try {
    core::FileHandle out = core::open_file(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const std::string trailer = seal(key, code);
    const std::size_t size = code.size() * sizeof(sock_filter);
    core::write_all_at(out.get(), code.data(), size, 0, temporary);
    core::write_all_at(out.get(), trailer.data(), trailer.size(), static_cast<std::int64_t>(size), temporary);
    if (::rename(temporary.c_str(), path.c_str()) == 0) return;
  } catch (const core::Error&) {
    // Not cached: the next run compiles again.
  }
  ::unlink(temporary.c_str());
}

}  // namespace

SeccompProgram cached_seccomp_program(const SeccompFilterSpec& filter, const fs::path& dir) {
  if (dir.empty()) return compile_seccomp(filter);
  const std::string key = cache_key(filter);
  const fs::path path = dir / (key + ".bpf");
  if (auto code = read_cached(path, key)) return SeccompProgram(std::move(*code), seccomp_kernel_flags(filter));
  SeccompProgram program = compile_seccomp(filter);
  write_cached(path, key, program.code());
  return program;
}

}  // namespace gantry::runtime
