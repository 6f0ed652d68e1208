#include "core/platform.hpp"

#include <utility>

#include "core/error.hpp"

namespace gantry::core {

namespace {

// containerd's specifier component grammar (platforms.go): [A-Za-z0-9_-]+ for
// the OS, and '.' allowed too in the architecture and variant ("v8.2").
bool is_specifier_component(std::string_view s, bool allow_dot) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}

std::string lowercase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

struct VariantLevel {
  int major = 0;
  int minor = 0;
};

// Digits only (from_chars alone would take a sign), at most 4 of them.
std::optional<int> parse_level_number(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// "vN" or "vN.M" (arm64 uses minors: "v8.2", "v9.1"); nullopt for anything else.
std::optional<VariantLevel> parse_variant(std::string_view v) {
  if (v.empty() || v.front() != 'v') return std::nullopt;
  v.remove_prefix(1);
  auto dot = v.find('.');
  auto major = parse_level_number(v.substr(0, dot));
  if (!major) return std::nullopt;
  if (dot == std::string_view::npos) return VariantLevel{*major, 0};
  auto minor = parse_level_number(v.substr(dot + 1));
  if (!minor) return std::nullopt;
  return VariantLevel{*major, *minor};
}

// Whether a CPU of variant `want` runs code built for variant `have` of the
// same (normalised) architecture: containerd's platforms.Only() vector
// (compare.go platformVector), without its cross-architecture fallbacks
// (amd64 -> 386, arm64 -> arm), which select_platform should not pick silently.
bool variant_runs(std::string_view arch, std::string_view want, std::string_view have) {
  if (want == have) return true;
  if (arch == "amd64") {
    // Normalisation maps v1 to "": the x86-64 baseline, which every level runs.
    auto w = want.empty() ? VariantLevel{1, 0} : parse_variant(want).value_or(VariantLevel{});
    auto h = have.empty() ? VariantLevel{1, 0} : parse_variant(have).value_or(VariantLevel{});
    return w.major >= 1 && h.major >= 1 && w.minor == 0 && h.minor == 0 && h.major <= w.major;
  }
  auto w = parse_variant(want);
  auto h = parse_variant(have);
  if (!w || !h) return false;
  if (arch == "arm") {
    // arm/v7 also runs v6 and v5 (and v8 runs v7..v5); nothing below v5.
    return w->minor == 0 && h->minor == 0 && h->major >= 5 && h->major <= w->major;
  }
  if (arch == "arm64" && w->major >= 8) {
    if (h->major == w->major) return h->minor <= w->minor;
    // Armv9.x diverged from Armv8.(x+5): a v9.x CPU runs v8.0 .. v8.(x+5).
    return w->major == 9 && h->major == 8 && h->minor <= w->minor + 5;
  }
  return false;
}

}  // namespace

Platform Platform::parse(std::string_view text) {
  auto fail = [&](std::string_view reason) -> Error {
    return Error(ErrorKind::bad_input, "invalid platform \"" + std::string(text) + "\": " + std::string(reason));
  };
  std::string parts[3];
  std::size_t count = 0;
  std::string_view rest = text;
  while (true) {
    auto slash = rest.find('/');
    if (count == 3) throw fail("expected OS/ARCH[/VARIANT], got more than three components");
    std::string_view part = rest.substr(0, slash);
    if (!is_specifier_component(part, count > 0)) {
      throw fail("expected OS/ARCH[/VARIANT] made of [A-Za-z0-9_-] (and '.' after the OS)");
    }
    parts[count++] = part;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (count < 2) throw fail("expected OS/ARCH[/VARIANT], an architecture is required");
  Platform platform;
  platform.os = std::move(parts[0]);
  platform.architecture = std::move(parts[1]);
  platform.variant = std::move(parts[2]);
  return platform;
}

Platform Platform::host() {
#if !defined(__linux__)
#error "gantry runs Linux containers on Linux only"
#endif
  Platform platform;
  platform.os = "linux";
#if defined(__x86_64__)
  platform.architecture = "amd64";
#elif defined(__aarch64__)
  platform.architecture = "arm64";
  platform.variant = "v8";
#elif defined(__arm__)
  platform.architecture = "arm";
#if defined(__ARM_ARCH) && __ARM_ARCH >= 5 && __ARM_ARCH <= 8
  platform.variant = "v" + std::to_string(__ARM_ARCH);
#else
  platform.variant = "v7";
#endif
#elif defined(__i386__)
  platform.architecture = "386";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
  platform.architecture = "ppc64le";
#elif defined(__s390x__)
  platform.architecture = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  platform.architecture = "riscv64";
#else
#error "unknown CPU architecture: add its GOARCH name to Platform::host()"
#endif
  return platform;
}

std::string Platform::string() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out.append("/").append(variant);
  return out;
}

// containerd platforms/database.go normalizeOS and normalizeArch. Where
// containerd 1.7 turned "arm64/v8" into "arm64", this keeps 1.6's direction
// (arm64 -> arm64/v8), which is what images in the wild declare; matching
// treats the two the same either way. os_version and os_features are kept
// (containerd drops them): they are data, not spelling.
Platform normalize(Platform platform) {
  platform.os = lowercase(std::move(platform.os));
  if (platform.os == "macos") platform.os = "darwin";

  std::string arch = lowercase(std::move(platform.architecture));
  std::string variant = lowercase(std::move(platform.variant));
  if (arch == "i386") {
    arch = "386";
    variant.clear();
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    arch = "amd64";
    if (variant == "v1") variant.clear();
  } else if (arch == "aarch64" || arch == "arm64") {
    arch = "arm64";
    if (variant.empty() || variant == "8") variant = "v8";
  } else if (arch == "armhf") {
    arch = "arm";
    variant = "v7";
  } else if (arch == "armel") {
    arch = "arm";
    variant = "v6";
  } else if (arch == "arm") {
    if (variant.empty() || variant == "7") {
      variant = "v7";
    } else if (variant == "5" || variant == "6" || variant == "8") {
      variant = "v" + variant;
    }
  }
  platform.architecture = std::move(arch);
  platform.variant = std::move(variant);
  return platform;
}

bool matches(const Platform& want, const Platform& have) {
  Platform w = normalize(want);
  Platform h = normalize(have);
  return w.os == h.os && w.architecture == h.architecture && variant_runs(w.architecture, w.variant, h.variant);
}

}  // namespace gantry::core
