#include "registry/detail/retry_policy.hpp"

#include <gtest/gtest.h>

#include <ctime>

namespace gantry::registry::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

system_clock::time_point utc(int year, int month, int day, int hour, int minute, int second) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return system_clock::from_time_t(::timegm(&tm));
}

TEST(RetryPolicy, RetryableStatuses) {
  for (unsigned status : {408u, 429u, 500u, 502u, 503u, 504u, 599u}) EXPECT_TRUE(is_retryable_status(status)) << status;
  for (unsigned status : {200u, 206u, 400u, 401u, 403u, 404u, 416u, 501u, 505u}) {
    EXPECT_FALSE(is_retryable_status(status)) << status;
  }
}

TEST(RetryPolicy, BackoffGrowsAndStaysWithinHalfToFull) {
  const milliseconds base{250}, max{10000};
  for (int attempt = 1; attempt <= 12; ++attempt) {
    milliseconds full = std::min<milliseconds>(max, base * (1LL << (attempt - 1)));
    for (std::uint64_t random : {0ULL, 1ULL, 12345ULL, ~0ULL}) {
      milliseconds d = backoff_delay(attempt, base, max, random);
      EXPECT_GE(d, full / 2) << attempt;
      EXPECT_LE(d, full) << attempt;
    }
  }
  // The spread is really used: the extremes of the random input reach both ends.
  EXPECT_EQ(backoff_delay(3, base, max, 0), milliseconds(500));
  EXPECT_EQ(backoff_delay(3, base, max, 500), milliseconds(1000));
  // A huge attempt number saturates at the cap instead of overflowing.
  EXPECT_LE(backoff_delay(1000, base, max, 7), max);
}

TEST(RetryPolicy, HttpDateInAllThreeForms) {
  auto expected = utc(1994, 11, 6, 8, 49, 37);
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
}

TEST(RetryPolicy, MalformedDatesAreRejected) {
  for (const char* bad : {"", "Sun, 06 Nov 1994 08:49:37", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT junk", "tomorrow"}) {
    EXPECT_FALSE(parse_http_date(bad)) << bad;
  }
}

TEST(RetryPolicy, RetryAfterSeconds) {
  auto now = system_clock::now();
  EXPECT_EQ(parse_retry_after("120", now), seconds(120));
  EXPECT_EQ(parse_retry_after(" 0 ", now), seconds(0));
  EXPECT_FALSE(parse_retry_after("-1", now));
  EXPECT_FALSE(parse_retry_after("1.5", now));
  EXPECT_FALSE(parse_retry_after("", now));
  // Absurd values are clamped (the caller's limit then refuses them), never wrapped.
  EXPECT_GT(*parse_retry_after("99999999999999999999999", now), seconds(3600));
}

TEST(RetryPolicy, RetryAfterDateIsAWaitFromNow) {
  auto now = utc(2024, 3, 1, 12, 0, 0);
  EXPECT_EQ(parse_retry_after("Fri, 01 Mar 2024 12:00:30 GMT", now), seconds(30));
  EXPECT_EQ(parse_retry_after("Fri, 01 Mar 2024 11:00:00 GMT", now), seconds(0));  // past: now
  EXPECT_FALSE(parse_retry_after("Fri, 01 Mar 2024 12:00:30 CET", now));
}

}  // namespace
}  // namespace gantry::registry::detail
