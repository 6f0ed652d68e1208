#include "registry/detail/coro_sync.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gantry::registry::detail {

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
}

SingleFlight::Guard::~Guard() {
  if (!flight_) return;  // moved from
  owner_->flights_.erase(key_);
  flight_->ended = true;
  flight_->done.cancel();
}

void SingleFlight::Guard::fail(std::exception_ptr error) noexcept { flight_->error = std::move(error); }

SingleFlight::Guard SingleFlight::begin(const std::string& key) {
  auto flight = std::make_shared<Flight>(executor_);
  flights_.emplace(key, flight);
  return Guard(*this, key, std::move(flight));
}

asio::awaitable<std::exception_ptr> SingleFlight::wait(const std::string& key) {
  auto it = flights_.find(key);
  if (it == flights_.end()) co_return nullptr;
  std::shared_ptr<Flight> flight = it->second;
  while (!flight->ended) co_await flight->done.async_wait(kTuple);
  co_return flight->error;
}

asio::awaitable<Slots::Permit> Slots::acquire() {
  if (free_ > 0) {
    --free_;
    co_return Permit(this);
  }
  auto waiter = std::make_shared<Waiter>(executor_);
  waiters_.push_back(waiter);
  while (!waiter->granted) co_await waiter->timer.async_wait(kTuple);
  co_return Permit(this);
}

// A released slot goes straight to the first waiter, so late arrivals
// cannot overtake it.
void Slots::release() {
  if (waiters_.empty()) {
    ++free_;
    return;
  }
  std::shared_ptr<Waiter> next = std::move(waiters_.front());
  waiters_.pop_front();
  next->granted = true;
  next->timer.cancel();
}

std::function<void()> Notifier::waker() {
  return [self = shared_from_this()] {
    asio::post(self->executor_, [self] {
      self->woken_ = true;
      self->timer_.cancel();
    });
  };
}

asio::awaitable<void> Notifier::wait() {
  while (!woken_) co_await timer_.async_wait(kTuple);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(kTuple);
}

}  // namespace gantry::registry::detail
