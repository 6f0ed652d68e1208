#pragma once
// Turning registry answers into one-line errors of the right kind, and the
// marker for errors worth another attempt.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace gantry::registry::detail {

// The first entry of a distribution-spec error body
// {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",...}]}.
struct ErrorBody {
  std::string code;
  std::string message;
};
[[nodiscard]] std::optional<ErrorBody> parse_error_body(std::string_view body);

// An error for a final answer with `status` to a request for `what` ("tag
// v9", "blob sha256:..."): 401/403 -> auth ("401 Unauthorized: wrong
// credentials" when credentials were sent), 404 -> not_found ("manifest
// unknown: tag v9 not found"), 408/429/5xx -> network, other 4xx -> bad_input.
[[nodiscard]] core::Error status_error(unsigned status, std::string_view what, std::string_view body,
                                       bool sent_credentials, core::ErrorContext context);

// `base` with every non-empty field of `over` put in: what a caller knows
// (registry, repository, digest) added to an error raised below it.
[[nodiscard]] core::ErrorContext merged(core::ErrorContext base, const core::ErrorContext& over);

// An error that another attempt may cure: connection failures, timeouts,
// retryable statuses. retry_after carries the server's Retry-After.
class TransientError : public core::Error {
 public:
  explicit TransientError(core::Error error, std::optional<std::chrono::seconds> retry_after = std::nullopt)
      : core::Error(std::move(error)), retry_after_(retry_after) {}
  [[nodiscard]] std::optional<std::chrono::seconds> retry_after() const noexcept { return retry_after_; }

 private:
  std::optional<std::chrono::seconds> retry_after_;
};

}  // namespace gantry::registry::detail
