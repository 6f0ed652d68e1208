#include "registry/detail/retry_policy.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>

namespace gantry::registry::detail {

namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                       "Friday", "Saturday", "Sunday"};

// A small cursor over the date text; every step fails on anything unexpected.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}

  bool literal(std::string_view text) {
    if (!s_.starts_with(text)) return false;
    s_.remove_prefix(text.size());
    return true;
  }
  template <std::size_t N>
  bool one_of(const std::array<std::string_view, N>& names, int& index) {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  // Exactly `digits` digits (a leading space stands for a zero when allowed).
  bool number(int digits, int& out, bool space_pad = false) {
    if (s_.size() < static_cast<std::size_t>(digits)) return false;
    out = 0;
    for (int i = 0; i < digits; ++i) {
      char c = s_[static_cast<std::size_t>(i)];
      if (space_pad && i == 0 && c == ' ') continue;
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    s_.remove_prefix(static_cast<std::size_t>(digits));
    return true;
  }
  bool time_of_day(std::tm& tm) {
    return number(2, tm.tm_hour) && literal(":") && number(2, tm.tm_min) && literal(":") && number(2, tm.tm_sec);
  }
  [[nodiscard]] bool done() const { return s_.empty(); }

 private:
  std::string_view s_;
};

std::optional<std::chrono::system_clock::time_point> to_time_point(std::tm tm) {
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) return std::nullopt;
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace

bool is_retryable_status(unsigned status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds max,
                                        std::uint64_t random) {
  std::chrono::milliseconds d = base;
  for (int i = 1; i < attempt && d < max; ++i) d *= 2;
  d = std::min(d, max);
  auto half = d.count() / 2;
  auto spread = static_cast<std::uint64_t>(d.count() - half) + 1;
  return std::chrono::milliseconds(half + static_cast<std::int64_t>(random % spread));
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  std::tm tm{};
  int weekday = 0;
  {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    Cursor c(text);
    if (c.one_of(kDays, weekday) && c.literal(", ") && c.number(2, tm.tm_mday) && c.literal(" ") &&
        c.one_of(kMonths, tm.tm_mon) && c.literal(" ") && c.number(4, tm.tm_year) && c.literal(" ") &&
        c.time_of_day(tm) && c.literal(" GMT") && c.done()) {
      tm.tm_year -= 1900;
      return to_time_point(tm);
    }
  }
  {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year that
    // looks more than 50 years ahead is in the past century (RFC 9110 §5.6.7).
    Cursor c(text);
    tm = {};
    int year = 0;
    if (c.one_of(kLongDays, weekday) && c.literal(", ") && c.number(2, tm.tm_mday) && c.literal("-") &&
        c.one_of(kMonths, tm.tm_mon) && c.literal("-") && c.number(2, year) && c.literal(" ") && c.time_of_day(tm) &&
        c.literal(" GMT") && c.done()) {
      std::time_t now = std::time(nullptr);
      std::tm utc{};
      ::gmtime_r(&now, &utc);
      int full = 1900 + utc.tm_year - (1900 + utc.tm_year) % 100 + year;
      if (full > 1900 + utc.tm_year + 50) full -= 100;
      tm.tm_year = full - 1900;
      return to_time_point(tm);
    }
  }
  {
    // asctime: "Sun Nov  6 08:49:37 1994"
    Cursor c(text);
    tm = {};
    if (c.one_of(kDays, weekday) && c.literal(" ") && c.one_of(kMonths, tm.tm_mon) && c.literal(" ") &&
        c.number(2, tm.tm_mday, /*space_pad=*/true) && c.literal(" ") && c.time_of_day(tm) && c.literal(" ") &&
        c.number(4, tm.tm_year) && c.done()) {
      tm.tm_year -= 1900;
      return to_time_point(tm);
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    std::uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (end != value.data() + value.size()) return std::nullopt;
    // Too large to represent: the caller's limit rejects it anyway.
    if (ec == std::errc::result_out_of_range || seconds > 100ULL * 365 * 24 * 3600) {
      return std::chrono::seconds(100LL * 365 * 24 * 3600);
    }
    return std::chrono::seconds(seconds);
  }
  std::optional<std::chrono::system_clock::time_point> date = parse_http_date(value);
  if (!date) return std::nullopt;
  if (*date <= now) return std::chrono::seconds(0);
  return std::chrono::ceil<std::chrono::seconds>(*date - now);
}

}  // namespace gantry::registry::detail
