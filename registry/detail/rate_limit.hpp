#pragma once
// The client's bandwidth limit (Options::max_rate): one token bucket that
// every download of a Client draws from, a token per body byte, so that
// their sum stays under the rate however many run at once. Waiting for
// tokens is a timer on the I/O thread, never a blocked thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace gantry::registry::detail {

namespace asio = boost::asio;

// The arithmetic alone, over the times the caller gives it (so a test can
// drive it with a simulated clock): tokens accrue at `rate` per second up
// to `burst`, and the bucket starts full. Over any span of t seconds it
// grants at most rate * t + burst.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(std::int64_t rate, std::int64_t burst, Clock::time_point now);

  // Up to `most` tokens if at least `least` are there (least <= burst),
  // else none: 0.
  [[nodiscard]] std::int64_t take(std::int64_t least, std::int64_t most, Clock::time_point now);
  // Tokens taken but not used (a read that delivered less than it asked).
  void give_back(std::int64_t tokens);
  // How long after `now` `tokens` (<= burst) will be there; zero if they are.
  [[nodiscard]] Clock::duration time_until(std::int64_t tokens, Clock::time_point now);

  [[nodiscard]] std::int64_t burst() const noexcept { return burst_; }

 private:
  void refill(Clock::time_point now);

  double rate_;  // tokens per second
  std::int64_t burst_;
  double tokens_;
  Clock::time_point last_;
};

// The bucket on an I/O thread: downloads ask for the bytes they mean to
// read and wait their turn in arrival order, so that a download asking
// for much is not starved by many asking for little.
class RateLimit {
 public:
  // bytes_per_second 0: unlimited. The burst is a tenth of a second's
  // worth: a download that starts after a quiet spell gets no more head
  // start than that. Reads are bounded by the tokens granted, so a burst
  // smaller than the fetcher's buffer still lets every download progress.
  RateLimit(asio::any_io_executor executor, std::int64_t bytes_per_second);

  // Permission to read up to `most` (> 0) bytes: how many, at least one.
  // Waits until a useful share is there (a quarter of the burst, or
  // `most` if that is less), so that reads do not shrink to a few bytes
  // while the waits stay short (a fortieth of a second's worth).
  asio::awaitable<std::size_t> take(std::size_t most);
  // What a read granted `take` tokens did not use.
  void give_back(std::size_t unused);

 private:
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool first = false;  // at the head of the queue: may take
  };

  asio::any_io_executor executor_;
  std::optional<TokenBucket> bucket_;  // none: unlimited
  std::deque<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace gantry::registry::detail
