#include "core/digest.hpp"

#include <openssl/evp.h>

#include "core/detail/json_quote.hpp"
#include "core/error.hpp"

namespace gantry::core {

namespace {

std::size_t hex_length(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha256 ? 64 : 128;
}

const EVP_MD* evp_md(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_sha512();
}

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The algorithm component grammar of descriptor.md: [a-z0-9]+([+._-][a-z0-9]+)*
bool is_algorithm_grammar(std::string_view s) {
  if (s.empty()) return false;
  bool need_alnum = true;
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool sep = c == '+' || c == '.' || c == '_' || c == '-';
    if (alnum) {
      need_alnum = false;
    } else if (sep && !need_alnum) {
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

// The encoded component grammar of descriptor.md: [a-zA-Z0-9=_-]+
bool is_encoded_grammar(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '=' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

[[noreturn]] void throw_openssl(DigestAlgorithm algorithm, const char* step) {
  throw Error(ErrorKind::io, std::string("OpenSSL ") + step + " failed for " + std::string(to_string(algorithm)));
}

}  // namespace

std::string_view to_string(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha256 ? "sha256" : "sha512";
}

Digest Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    throw Error(ErrorKind::bad_input, "invalid digest " + detail::quoted(text) + ": expected ALGORITHM:HEX");
  }
  std::string_view algo = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  DigestAlgorithm algorithm;
  if (algo == "sha256") {
    algorithm = DigestAlgorithm::sha256;
  } else if (algo == "sha512") {
    algorithm = DigestAlgorithm::sha512;
  } else if (is_algorithm_grammar(algo) && is_encoded_grammar(hex)) {
    throw Error(ErrorKind::unsupported, "unsupported digest algorithm " + detail::quoted(algo));
  } else {
    throw Error(ErrorKind::bad_input, "invalid digest algorithm " + detail::quoted(algo));
  }
  if (hex.size() != hex_length(algorithm) || !is_lower_hex(hex)) {
    throw Error(ErrorKind::bad_input, "invalid digest " + detail::quoted(text) + ": " + std::string(algo) +
                                          " needs " + std::to_string(hex_length(algorithm)) +
                                          " lowercase hex characters");
  }
  return Digest(algorithm, std::string(hex));
}

Digest Digest::from_bytes(DigestAlgorithm algorithm, std::span<const unsigned char> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (bytes.size() * 2 != hex_length(algorithm)) {
    throw Error(ErrorKind::bad_input, "hash of wrong length for " + std::string(to_string(algorithm)));
  }
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xf]);
  }
  return Digest(algorithm, std::move(hex));
}

std::string Digest::string() const {
  std::string out(to_string(algorithm_));
  out += ':';
  out += hex_;
  return out;
}

struct Hasher::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(DigestAlgorithm algorithm) : algorithm_(algorithm), state_(std::make_unique<State>()) {
  if (state_->ctx == nullptr || EVP_DigestInit_ex(state_->ctx, evp_md(algorithm_), nullptr) != 1) {
    throw Error(ErrorKind::unsupported, "OpenSSL cannot initialise " + std::string(to_string(algorithm_)));
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t size) {
  if (size != 0 && EVP_DigestUpdate(state_->ctx, data, size) != 1) throw_openssl(algorithm_, "update");
}

Digest Hasher::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(state_->ctx, out, &length) != 1) throw_openssl(algorithm_, "final");
  if (EVP_DigestInit_ex(state_->ctx, evp_md(algorithm_), nullptr) != 1) throw_openssl(algorithm_, "init");
  return Digest::from_bytes(algorithm_, std::span<const unsigned char>(out, length));
}

Digest digest_of(std::string_view bytes, DigestAlgorithm algorithm) {
  Hasher hasher(algorithm);
  hasher.update(bytes);
  return hasher.finish();
}

}  // namespace gantry::core
