#pragma once
// Content digests (OCI image-spec descriptor.md#digests) and streaming hashers.
// Only sha256 and sha512 are accepted, with lowercase hex of the exact length:
// a digest is an identity, so anything loose here is a hole elsewhere.

#include <compare>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace gantry::core {

enum class DigestAlgorithm { sha256, sha512 };

[[nodiscard]] std::string_view to_string(DigestAlgorithm algorithm);

class Digest {
 public:
  // "sha256:<64 hex>" or "sha512:<128 hex>"; throws Error(bad_input) otherwise,
  // Error(unsupported) for a well-formed but unknown algorithm.
  [[nodiscard]] static Digest parse(std::string_view text);
  // From raw hash bytes (as a hasher produces them).
  [[nodiscard]] static Digest from_bytes(DigestAlgorithm algorithm, std::span<const unsigned char> bytes);

  [[nodiscard]] DigestAlgorithm algorithm() const noexcept { return algorithm_; }
  [[nodiscard]] const std::string& hex() const noexcept { return hex_; }
  [[nodiscard]] std::string string() const;  // "sha256:<hex>"

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  Digest(DigestAlgorithm algorithm, std::string hex) : algorithm_(algorithm), hex_(std::move(hex)) {}
  DigestAlgorithm algorithm_;
  std::string hex_;
};

// Incremental hash over OpenSSL EVP (SHA-NI where the CPU has it).
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm = DigestAlgorithm::sha256);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Ends this hash; the hasher is then reset and may be reused.
  [[nodiscard]] Digest finish();
  [[nodiscard]] DigestAlgorithm algorithm() const noexcept { return algorithm_; }

 private:
  struct State;
  DigestAlgorithm algorithm_;
  std::unique_ptr<State> state_;
};

[[nodiscard]] Digest digest_of(std::string_view bytes, DigestAlgorithm algorithm = DigestAlgorithm::sha256);

}  // namespace gantry::core

template <>
struct std::hash<gantry::core::Digest> {
  std::size_t operator()(const gantry::core::Digest& d) const noexcept {
    return std::hash<std::string>{}(d.hex());
  }
};
