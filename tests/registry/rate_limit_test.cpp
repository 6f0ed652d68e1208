#include "registry/detail/rate_limit.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace gantry::registry::detail {
namespace {

using Clock = TokenBucket::Clock;
using std::chrono::duration;
using std::chrono::milliseconds;

constexpr std::int64_t kRate = 2 * 1024 * 1024;  // bytes per second
constexpr std::int64_t kBurst = kRate / 10;

double seconds_between(Clock::time_point from, Clock::time_point to) { return duration<double>(to - from).count(); }

TEST(TokenBucket, StartsFullAndGrantsNoMoreThanItHolds) {
  Clock::time_point t0{};
  TokenBucket bucket(kRate, kBurst, t0);
  EXPECT_EQ(bucket.take(1, 10 * kBurst, t0), kBurst);
  EXPECT_EQ(bucket.take(1, 10 * kBurst, t0), 0);
  EXPECT_EQ(bucket.take(1, 10 * kBurst, t0 + milliseconds(10)), kRate / 100);
}

TEST(TokenBucket, GrantsNothingBelowTheLeastAskedForAndSaysWhenItWillBeThere) {
  Clock::time_point t0{};
  TokenBucket bucket(kRate, kBurst, t0);
  ASSERT_EQ(bucket.take(kBurst, kBurst, t0), kBurst);
  EXPECT_EQ(bucket.take(1000, 5000, t0), 0);
  Clock::duration wait = bucket.time_until(1000, t0);
  EXPECT_GT(wait, Clock::duration::zero());
  EXPECT_EQ(bucket.take(1000, 5000, t0 + wait / 2), 0);
  EXPECT_GE(bucket.take(1000, 5000, t0 + wait), 1000);
  EXPECT_EQ(bucket.time_until(0, t0 + wait), Clock::duration::zero());
}

TEST(TokenBucket, NeverHoldsMoreThanTheBurstAfterAQuietSpellOrAGiveBack) {
  Clock::time_point t0{};
  TokenBucket bucket(kRate, kBurst, t0);
  EXPECT_EQ(bucket.take(1, 100 * kBurst, t0 + std::chrono::hours(1)), kBurst);
  bucket.give_back(kBurst);
  bucket.give_back(kBurst);
  EXPECT_EQ(bucket.take(1, 100 * kBurst, t0 + std::chrono::hours(1)), kBurst);
}

// Downloads asking at random moments for random amounts, as the fetcher's
// do, over a simulated few seconds: what is granted stays under rate *
// elapsed + burst at every moment, and keeps within 10 % of the rate.
TEST(TokenBucket, HoldsTheRateOverSecondsOfRandomDemand) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> pause_us(0, 20'000);
  std::uniform_int_distribution<std::int64_t> ask(1, 1024 * 1024);
  Clock::time_point t0{};
  TokenBucket bucket(kRate, kBurst, t0);
  std::int64_t granted = 0;
  Clock::time_point now = t0;
  const Clock::time_point end = t0 + std::chrono::seconds(5);
  while (now < end) {
    std::int64_t most = ask(random);
    std::int64_t least = std::min(most, kBurst / 4);
    std::int64_t got = bucket.take(least, most, now);
    if (got == 0) {
      now += bucket.time_until(least, now);  // as RateLimit waits
    } else {
      EXPECT_GE(got, least);
      EXPECT_LE(got, most);
      // A read that used only part of its grant.
      std::int64_t unused = got % 3 == 0 ? got / 2 : 0;
      bucket.give_back(unused);
      granted += got - unused;
      now += std::chrono::microseconds(pause_us(random));
    }
    ASSERT_LE(static_cast<double>(granted), kRate * seconds_between(t0, now) + kBurst) << "at " << seconds_between(t0, now);
  }
  double elapsed = seconds_between(t0, now);
  EXPECT_GE(static_cast<double>(granted), 0.9 * kRate * elapsed);
  EXPECT_LE(static_cast<double>(granted), 1.1 * kRate * elapsed);
}

// The asynchronous side, on a real clock: every grant is between 1 and what
// was asked, and bytes beyond the burst cost their time (a lower bound on
// the elapsed time: no timing goal).
TEST(RateLimit, DownloadsSharingItWaitForTheirTokensInTurn) {
  asio::io_context io;
  constexpr std::int64_t rate = 4 * 1024 * 1024;
  RateLimit limit(io.get_executor(), rate);
  std::int64_t total = 0;
  int finished = 0;
  auto download = [&](std::size_t chunk, std::int64_t bytes) -> asio::awaitable<void> {
    for (std::int64_t have = 0; have < bytes;) {
      std::size_t most = std::min<std::size_t>(chunk, static_cast<std::size_t>(bytes - have));
      std::size_t got = co_await limit.take(most);
      EXPECT_GE(got, 1u);
      EXPECT_LE(got, most);
      have += static_cast<std::int64_t>(got);
      total += static_cast<std::int64_t>(got);
    }
    ++finished;
  };
  auto start = Clock::now();
  for (std::size_t chunk : {1024u * 1024u, 64u * 1024u, 4096u}) {
    asio::co_spawn(io, download(chunk, 1024 * 1024), asio::detached);
  }
  io.run();
  double elapsed = seconds_between(start, Clock::now());
  EXPECT_EQ(finished, 3);
  EXPECT_EQ(total, 3 * 1024 * 1024);
  EXPECT_GE(elapsed, static_cast<double>(total - rate / 10) / rate);
}

TEST(RateLimit, UnlimitedGrantsWhatIsAsked) {
  asio::io_context io;
  RateLimit limit(io.get_executor(), 0);
  std::size_t got = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { got = co_await limit.take(123456); }, asio::detached);
  io.run();
  EXPECT_EQ(got, 123456u);
}

}  // namespace
}  // namespace gantry::registry::detail
