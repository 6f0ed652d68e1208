#pragma once
// One error type for all of gantry: a kind that decides behaviour (retry, exit
// code, message) and the context a user needs to act on it.

#include <stdexcept>
#include <string>
#include <string_view>

namespace gantry::core {

enum class ErrorKind {
  network,          // connection refused/reset, TLS failure, timeout, 5xx after retries
  auth,             // 401/403, bad or missing credentials
  not_found,        // unknown repository, tag, digest or ref
  bad_input,        // malformed reference, JSON, flag, tar entry
  digest_mismatch,  // bytes do not hash to the digest (or diff ID) they claim
  unsafe_path,      // an entry that would reach outside the root
  io,               // local filesystem errors
  unsupported,      // media type, platform, algorithm or feature we do not handle
};

[[nodiscard]] std::string_view to_string(ErrorKind kind);

// What an error concerns. Empty fields are left out of the message.
struct ErrorContext {
  std::string registry{};
  std::string repository{};
  std::string digest{};
  std::string path{};
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string_view message, ErrorContext context = {});

  [[nodiscard]] ErrorKind kind() const noexcept { return kind_; }
  // The message without context; like what(), control characters replaced.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] const ErrorContext& context() const noexcept { return context_; }

 private:
  ErrorKind kind_;
  std::string message_;
  ErrorContext context_;
};

// The same error about `what` (a reference, a file): "<what>: <message>",
// kind and context kept.
[[nodiscard]] Error prefixed(const Error& e, std::string_view what);

// An io error from errno: "<what>: <strerror(err)>" with the path as context.
[[nodiscard]] Error errno_error(int err, std::string_view what, std::string path = {});

}  // namespace gantry::core
