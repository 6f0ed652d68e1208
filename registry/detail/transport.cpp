#include "registry/detail/transport.hpp"

#include "core/error.hpp"
#include "registry/detail/endpoint.hpp"
#include "registry/detail/errors.hpp"
#include "registry/detail/redirect.hpp"
#include "registry/detail/retry_policy.hpp"

namespace gantry::registry::detail {

namespace {
constexpr std::int64_t kDrainLimit = 64 * 1024;
}

asio::awaitable<Response> send_following_redirects(HttpClient& http, const Request& request, const Url& credentials_owner,
                                                   const std::string& authorization, const Options& options) {
  auto plain_allowed = [&](std::string_view authority) { return plain_http_allowed(options, authority); };
  Url url = request.url;
  for (int hop = 1;; ++hop) {
    Request sent{request.method, url, request.headers};
    if (!authorization.empty() && may_send_credentials(credentials_owner, url)) {
      sent.headers.emplace_back("Authorization", authorization);
    }
    Response response = co_await http.send(sent);
    if (!is_redirect(response.status())) co_return response;
    std::optional<std::string_view> location = find_header(response.headers(), "Location");
    co_await drain(response);
    url = follow_redirect(url, location.value_or(""), hop, plain_allowed);
  }
}

asio::awaitable<void> drain(Response& response) {
  if (response.content_length().value_or(kDrainLimit + 1) > kDrainLimit) co_return;
  try {
    (void)co_await response.read_all(kDrainLimit);
  } catch (const core::Error&) {
    // The connection goes with the response; nothing else is lost.
  }
}

asio::awaitable<void> raise_for_status(Response& response, std::string_view what, bool sent_credentials,
                                       core::ErrorContext context) {
  std::string body;
  try {
    body = co_await response.read_all(kDrainLimit);
  } catch (const core::Error&) {
    // No body or an unreadable one: the status says enough.
  }
  core::Error error = status_error(response.status(), what, body, sent_credentials, std::move(context));
  if (!is_retryable_status(response.status())) throw error;
  std::optional<std::chrono::seconds> retry_after;
  if (auto value = find_header(response.headers(), "Retry-After")) {
    retry_after = parse_retry_after(*value, std::chrono::system_clock::now());
  }
  throw TransientError(std::move(error), retry_after);
}

}  // namespace gantry::registry::detail
