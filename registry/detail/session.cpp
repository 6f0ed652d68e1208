#include "registry/detail/session.hpp"

#include <optional>

#include "registry/detail/errors.hpp"
#include "registry/detail/retry_policy.hpp"
#include "registry/detail/coro_sync.hpp"
#include "registry/detail/transport.hpp"

namespace gantry::registry::detail {

namespace {

constexpr int kMirrorAttempts = 2;

}  // namespace

Session::Session(asio::any_io_executor executor, const Options& options, core::progress::EventSink* events)
    : executor_(executor),
      options_(options),
      events_(events),
      http_(executor, HttpSettings{.ca_file = options.ca_file,
                                   .host_tls = options.host_tls,
                                   .connect_timeout = options.connect_timeout,
                                   .stall_timeout = options.stall_timeout,
                                   .user_agent = options.user_agent,
                                   .proxies = ProxySettings::from_environment()}),
      auth_(executor, http_, options),
      random_(std::random_device{}()) {}

asio::awaitable<Response> Session::request(const Endpoint& endpoint, std::string_view repository,
                                           const std::string& method, const std::string& target,
                                           const Headers& headers,
                                           std::optional<std::chrono::steady_clock::time_point>* authorized) {
  Url owner = endpoint.url("/");
  Request request{method, endpoint.url(target), headers};
  for (int round = 0;; ++round) {
    std::string authorization = co_await auth_.authorization(endpoint, repository);
    // A clock read only for the caller that asked (the resolver), not per blob.
    std::optional<std::chrono::steady_clock::time_point> authorized_at;
    if (authorized != nullptr && !*authorized) authorized_at = std::chrono::steady_clock::now();
    Response response = co_await send_following_redirects(http_, request, owner, authorization, options_);
    if (response.status() != 401) {
      if (authorized_at) *authorized = authorized_at;
      co_return response;
    }
    if (round == 0 && auth_.unauthorized(endpoint, repository, authorization, response.headers())) {
      co_await drain(response);
      continue;
    }
    core::ErrorContext context{.registry = endpoint.host, .repository = std::string(repository)};
    co_await raise_for_status(response, "repository " + std::string(repository), auth_.has_credentials(endpoint),
                              context);
  }
}

asio::awaitable<void> Session::raise(Response& response, std::string_view what, const Endpoint& endpoint) {
  core::ErrorContext context{.registry = endpoint.host};
  co_await raise_for_status(response, what, auth_.has_credentials(endpoint), context);
}

int Session::attempts(const Endpoint& endpoint) const {
  return endpoint.mirror ? std::min(kMirrorAttempts, options_.max_attempts) : options_.max_attempts;
}

asio::awaitable<void> Session::retrying(const std::string& what, int max_attempts,
                                        const std::function<asio::awaitable<void>(int attempt)>& attempt) {
  for (int n = 1;; ++n) {
    std::optional<TransientError> failure;
    try {
      co_await attempt(n);
      co_return;
    } catch (const TransientError& error) {
      if (n >= max_attempts) {
        std::string message = error.message();
        if (n > 1) message += " (after " + std::to_string(n) + " attempts)";
        throw core::Error(error.kind(), message, error.context());
      }
      failure = error;
    }
    std::chrono::milliseconds delay =
        backoff_delay(n, options_.backoff_base, options_.backoff_max, static_cast<std::uint64_t>(random_()));
    if (std::optional<std::chrono::seconds> asked = failure->retry_after()) {
      if (*asked > options_.max_retry_after) {
        throw core::Error(failure->kind(),
                          failure->message() + ": the server asks to retry after " + std::to_string(asked->count()) +
                              " s, more than the limit of " + std::to_string(options_.max_retry_after.count()) + " s",
                          failure->context());
      }
      delay = *asked;
    }
    emit(core::progress::Retry{.what = what, .attempt = n, .delay = delay, .reason = failure->what()});
    co_await sleep_for(delay);
  }
}

asio::awaitable<void> Session::each_endpoint(const core::Reference& reference, core::ErrorContext context,
                                             const std::function<asio::awaitable<void>(const Endpoint&)>& work) {
  std::vector<Endpoint> endpoints = endpoints_for(options_, reference);
  std::string mirror_errors;
  for (const Endpoint& endpoint : endpoints) {
    std::optional<core::Error> failure;
    try {
      co_await work(endpoint);
      co_return;
    } catch (const core::Error& error) {
      failure = error;
    }
    if (endpoint.mirror && failure->kind() != core::ErrorKind::io) {
      mirror_errors += "; mirror " + endpoint.host + ": " + failure->what();
      // The next host is tried at once: say so, or the switch is invisible.
      emit(core::progress::Retry{.what = "mirror " + endpoint.host,
                                 .attempt = attempts(endpoint),
                                 .delay = std::chrono::milliseconds(0),
                                 .reason = "giving up mirror " + endpoint.host + " for the next host: " + failure->what(),
                                 .reference = reference.string()});
      continue;
    }
    // Where (registry, repository) comes from this request; what failed
    // (digest, path) stays the error's own when it names one: a sink's
    // error, such as a layer pipeline's failure fed back into its download,
    // is about another layer or file than the blob being fetched.
    core::ErrorContext where = merged(failure->context(), context);
    if (!failure->context().digest.empty()) where.digest = failure->context().digest;
    if (!failure->context().path.empty()) where.path = failure->context().path;
    throw core::Error(failure->kind(), failure->message() + mirror_errors, std::move(where));
  }
}

}  // namespace gantry::registry::detail
