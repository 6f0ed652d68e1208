#pragma once
// When and how long to wait before trying a request again: which answers
// are worth a retry, exponential backoff with jitter (so that many clients
// failing together do not retry together), and Retry-After.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gantry::registry::detail {

// 408, 429 and 5xx other than 501/505 (which will not change on a retry).
[[nodiscard]] bool is_retryable_status(unsigned status);

// The wait after failed attempt `attempt` (from 1): d = min(max, base *
// 2^(attempt-1)), then a uniformly spread value in [d/2, d] picked by
// `random` ("equal jitter": never less than half, so a retry storm thins
// out, never more than the cap).
[[nodiscard]] std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                                      std::chrono::milliseconds max, std::uint64_t random);

// An HTTP-date (RFC 9110 §5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37
// GMT", and the obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and
// asctime "Sun Nov  6 08:49:37 1994" forms recipients must accept.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as a wait
// from `now` (a date in the past waits 0). nullopt when malformed.
[[nodiscard]] std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                                    std::chrono::system_clock::time_point now);

}  // namespace gantry::registry::detail
