#pragma once
// Platforms (image-spec image-index.md#platform-variants) and matching an
// index entry against what the user asked for (the host by default).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::core {

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // GOARCH spelling: "amd64", "arm64", "arm", "386", ...
  std::string variant;       // "v7", "v8", or empty
  std::string os_version;
  std::vector<std::string> os_features;

  // "OS/ARCH[/VARIANT]" (e.g. "linux/arm64/v8"); throws Error(bad_input).
  [[nodiscard]] static Platform parse(std::string_view text);
  // The platform this binary runs on, in GOARCH spelling.
  [[nodiscard]] static Platform host();
  [[nodiscard]] std::string string() const;  // "linux/arm64/v8", no trailing slash

  friend bool operator==(const Platform&, const Platform&) = default;
};

// Normalised form: lowercase; "x86_64"/"x86-64" -> amd64, "aarch64" -> arm64,
// "arm64" with no variant -> variant "v8", "arm" with no variant -> "v7",
// "i386" -> 386. (The same rules as containerd's platforms.Normalize.)
[[nodiscard]] Platform normalize(Platform platform);

// Whether an image for `have` runs where `want` is asked: os and architecture
// equal after normalisation, and the variant equal when `want` names one.
[[nodiscard]] bool matches(const Platform& want, const Platform& have);

}  // namespace gantry::core
