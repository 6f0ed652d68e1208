#pragma once
// Coordination between the coroutines of the client's one I/O thread (so
// no locks): single flight per key, a counting semaphore, a wait another
// thread can end, blocking work handed to a helper thread, and a sleep.
//
// A pitfall for every coroutine in registry/: g++ 12 miscompiles a braced
// aggregate temporary inside a co_await expression (`co_await f(Url{...})`
// frees a small string at the wrong address, ASan: "attempting free on
// address which was not malloc()-ed"). Name such values first.

#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>

namespace gantry::registry::detail {

namespace asio = boost::asio;

// One piece of work per key at a time (a token fetch, a /v2/ ping, a blob
// download): a second caller waits for the first to end instead of doing
// the work again, then decides what to do with its outcome.
class SingleFlight {
  struct Flight;

 public:
  // Held by the caller doing the work; ends the flight (waking the waiters)
  // when destroyed.
  class Guard {
   public:
    Guard(SingleFlight& owner, std::string key, std::shared_ptr<Flight> flight)
        : owner_(&owner), key_(std::move(key)), flight_(std::move(flight)) {}
    Guard(Guard&& other) noexcept = default;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard();
    // The error the waiters are given.
    void fail(std::exception_ptr error) noexcept;

   private:
    SingleFlight* owner_;
    std::string key_;
    std::shared_ptr<Flight> flight_;
  };

  explicit SingleFlight(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  [[nodiscard]] bool active(const std::string& key) const { return flights_.contains(key); }
  // Starts the flight for `key` (which must not be active).
  [[nodiscard]] Guard begin(const std::string& key);
  // Waits until the active flight for `key` ends; its error, or null.
  asio::awaitable<std::exception_ptr> wait(const std::string& key);

 private:
  struct Flight {
    explicit Flight(const asio::any_io_executor& ex) : done(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer done;
    std::exception_ptr error;
    bool ended = false;
  };

  asio::any_io_executor executor_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;
};

// At most `count` holders at once; the others wait in arrival order.
class Slots {
 public:
  // One slot, or none (default, moved from, released). Assigning a permit
  // releases the slot held before.
  class Permit {
   public:
    Permit() = default;
    explicit Permit(Slots* owner) : owner_(owner) {}
    Permit(Permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    ~Permit() { release(); }
    void release() {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->release();
    }

   private:
    Slots* owner_ = nullptr;
  };

  Slots(asio::any_io_executor executor, int count) : executor_(std::move(executor)), free_(count) {}
  asio::awaitable<Permit> acquire();

 private:
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool granted = false;
  };
  void release();

  asio::any_io_executor executor_;
  int free_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
};

// A wait that another thread can end: wake() may be called from anywhere,
// wait() runs on the I/O thread.
class Notifier : public std::enable_shared_from_this<Notifier> {
 public:
  explicit Notifier(asio::any_io_executor executor)
      : executor_(std::move(executor)), timer_(executor_, asio::steady_timer::time_point::max()) {}
  // A callable that ends the wait, safe to call from any thread, any time.
  [[nodiscard]] std::function<void()> waker();
  asio::awaitable<void> wait();

 private:
  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  bool woken_ = false;
};

// Runs `work` on `pool` and resumes the caller on its own executor with the
// result, or the exception `work` threw: blocking work (disk reads, fsync,
// hashing) never stops the I/O thread, so other downloads keep flowing.
template <class Work>
auto off_thread(asio::thread_pool& pool, Work work) -> asio::awaitable<std::invoke_result_t<Work&>> {
  using Result = std::invoke_result_t<Work&>;
  auto notifier = std::make_shared<Notifier>(co_await asio::this_coro::executor);
  std::conditional_t<std::is_void_v<Result>, std::monostate, std::optional<Result>> result;
  std::exception_ptr error;
  // The frame outlives the helper's use of it: the caller waits for the wake.
  asio::post(pool, [&work, &result, &error, wake = notifier->waker()] {
    try {
      if constexpr (std::is_void_v<Result>) {
        work();
      } else {
        result.emplace(work());
      }
    } catch (...) {
      error = std::current_exception();
    }
    wake();
  });
  co_await notifier->wait();
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<Result>) co_return std::move(*result);
}

// Sleeps on the calling coroutine's executor.
asio::awaitable<void> sleep_for(std::chrono::milliseconds duration);

}  // namespace gantry::registry::detail
