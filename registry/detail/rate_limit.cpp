#include "registry/detail/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gantry::registry::detail {

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
}

TokenBucket::TokenBucket(std::int64_t rate, std::int64_t burst, Clock::time_point now)
    : rate_(static_cast<double>(rate)), burst_(burst), tokens_(static_cast<double>(burst)), last_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(static_cast<double>(burst_), tokens_ + rate_ * seconds);
  last_ = now;
}

std::int64_t TokenBucket::take(std::int64_t least, std::int64_t most, Clock::time_point now) {
  refill(now);
  if (tokens_ < static_cast<double>(std::min(least, burst_))) return 0;
  std::int64_t granted = std::min(most, static_cast<std::int64_t>(std::floor(tokens_)));
  tokens_ -= static_cast<double>(granted);
  return granted;
}

void TokenBucket::give_back(std::int64_t tokens) {
  tokens_ = std::min(static_cast<double>(burst_), tokens_ + static_cast<double>(tokens));
}

TokenBucket::Clock::duration TokenBucket::time_until(std::int64_t tokens, Clock::time_point now) {
  refill(now);
  double missing = static_cast<double>(std::min(tokens, burst_)) - tokens_;
  if (missing <= 0) return Clock::duration::zero();
  return std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(missing / rate_));
}

RateLimit::RateLimit(asio::any_io_executor executor, std::int64_t bytes_per_second) : executor_(std::move(executor)) {
  if (bytes_per_second > 0) {
    bucket_.emplace(bytes_per_second, std::max<std::int64_t>(bytes_per_second / 10, 1), TokenBucket::Clock::now());
  }
}

asio::awaitable<std::size_t> RateLimit::take(std::size_t most) {
  if (!bucket_) co_return most;
  const auto want = static_cast<std::int64_t>(most);
  const std::int64_t least = std::min(want, std::max<std::int64_t>(1, bucket_->burst() / 4));
  if (waiters_.empty()) {
    if (std::int64_t granted = bucket_->take(least, want, TokenBucket::Clock::now()); granted > 0) {
      co_return static_cast<std::size_t>(granted);
    }
  }
  auto waiter = std::make_shared<Waiter>(executor_);
  waiter->first = waiters_.empty();
  waiters_.push_back(waiter);
  while (!waiter->first) co_await waiter->timer.async_wait(kTuple);
  std::int64_t granted = 0;
  while ((granted = bucket_->take(least, want, TokenBucket::Clock::now())) == 0) {
    waiter->timer.expires_after(bucket_->time_until(least, TokenBucket::Clock::now()));
    co_await waiter->timer.async_wait(kTuple);
  }
  // Our turn is over: the next in line may take.
  waiters_.pop_front();
  if (!waiters_.empty()) {
    waiters_.front()->first = true;
    waiters_.front()->timer.cancel();
  }
  co_return static_cast<std::size_t>(granted);
}

void RateLimit::give_back(std::size_t unused) {
  if (bucket_ && unused > 0) bucket_->give_back(static_cast<std::int64_t>(unused));
}

}  // namespace gantry::registry::detail
