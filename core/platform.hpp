#pragma once
// Platforms (image-spec image-index.md#platform-variants) and matching an
// index entry against what the user asked for (the host by default).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::core {

struct Platform {
  // Default initialisers let designated initialisers name only what they need.
  std::string os{};            // "linux"
  std::string architecture{};  // GOARCH spelling: "amd64", "arm64", "arm", "386", ...
  std::string variant{};       // "v7", "v8", or empty
  std::string os_version{};
  std::vector<std::string> os_features{};

  // "OS/ARCH[/VARIANT]" (e.g. "linux/arm64/v8.2"), each part [A-Za-z0-9_-]+
  // ('.' allowed after the OS, as containerd's specifiers);
  // throws Error(bad_input). Kept as spelled: normalize() or matches() canonicalise.
  [[nodiscard]] static Platform parse(std::string_view text);
  // The platform this binary runs on, in GOARCH spelling, already normalised
  // ("linux/amd64", "linux/arm64/v8", "linux/arm/v7").
  [[nodiscard]] static Platform host();
  [[nodiscard]] std::string string() const;  // "linux/arm64/v8", no trailing slash

  friend bool operator==(const Platform&, const Platform&) = default;
};

// Normalised form: lowercase; "macos" -> darwin; "x86_64"/"x86-64" -> amd64
// (amd64/v1 -> amd64), "aarch64" -> arm64, "arm64" with no variant or "8" ->
// "v8", "arm" with no variant -> "v7" ("5"/"6"/"8" -> "vN"), "armhf" ->
// arm/v7, "armel" -> arm/v6, "i386" -> 386. (containerd's platforms.Normalize;
// os_version and os_features are kept.)
[[nodiscard]] Platform normalize(Platform platform);

// Whether an image for `have` runs where `want` is asked: os and architecture
// equal after normalisation, and `have`'s variant one that `want`'s CPU runs,
// as containerd's platforms.Only() decides within one architecture:
//   amd64/vN runs v1..vN (amd64 with no variant is v1: it does not run v2+),
//   arm/vN runs v5..vN (arm with no variant is v7),
//   arm64/v8.x runs v8..v8.x, arm64/v9.x runs v9..v9.x and v8..v8.(x+5)
//   (arm64 with no variant is v8), other architectures need an equal variant.
// So `want` without a variant never accepts a newer variant than the
// baseline. Unlike Only(), amd64 never matches 386 nor arm64 arm: picking
// another architecture is for the caller to decide.
[[nodiscard]] bool matches(const Platform& want, const Platform& have);

}  // namespace gantry::core
