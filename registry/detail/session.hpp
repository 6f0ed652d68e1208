#pragma once
// What every registry operation shares: the connection pool, the
// authenticator, retries with backoff, and the walk over mirrors then the
// origin. The resolver and the fetcher are written in terms of these.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/reference.hpp"
#include "registry/detail/auth.hpp"
#include "registry/detail/endpoint.hpp"
#include "registry/detail/http.hpp"
#include "registry/options.hpp"

namespace gantry::registry::detail {

class Session {
 public:
  Session(asio::any_io_executor executor, const Options& options, core::progress::EventSink* events);

  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] const asio::any_io_executor& executor() const noexcept { return executor_; }
  void emit(const core::progress::Event& event) const {
    if (events_ != nullptr) events_->on_event(event);
  }

  // One request to a registry about `repository` (target "/v2/..."):
  // authorization for the registry's origin, one more try after a 401 when
  // that may help, redirects followed. Returns any other answer for the
  // caller to judge; a final 401 is thrown as Error(auth). With
  // `authorized` (unset so far), sets it to when the authorization of the
  // round that was not refused was in hand: the end of the auth phase of
  // the engine's timeline (a ping, a token, or nothing to do).
  asio::awaitable<Response> request(const Endpoint& endpoint, std::string_view repository, const std::string& method,
                                    const std::string& target, const Headers& headers,
                                    std::optional<std::chrono::steady_clock::time_point>* authorized = nullptr);

  // Throws for an answer the caller cannot use (see raise_for_status).
  asio::awaitable<void> raise(Response& response, std::string_view what, const Endpoint& endpoint);

  // Runs `attempt` until it returns, retrying after a TransientError with
  // backoff (or the server's Retry-After), at most `max_attempts` times in
  // all, emitting a Retry event before each wait. Other errors pass through.
  asio::awaitable<void> retrying(const std::string& what, int max_attempts,
                                 const std::function<asio::awaitable<void>(int attempt)>& attempt);
  // How many attempts `endpoint` gets: mirrors few, so the origin is reached soon.
  [[nodiscard]] int attempts(const Endpoint& endpoint) const;

  // Runs `work` against each mirror of `reference` in order and then the
  // origin, until one succeeds. A failing mirror's error is remembered and
  // the next host tried (io errors, being local, stop at once). The final
  // error is the origin's, with the mirrors' appended, in `context`.
  asio::awaitable<void> each_endpoint(const core::Reference& reference, core::ErrorContext context,
                                      const std::function<asio::awaitable<void>(const Endpoint&)>& work);

 private:
  asio::any_io_executor executor_;
  const Options& options_;
  core::progress::EventSink* events_;
  HttpClient http_;
  Authenticator auth_;
  std::minstd_rand random_;
};

}  // namespace gantry::registry::detail
