#include "registry/detail/auth.hpp"

#include "core/error.hpp"
#include "registry/detail/base64.hpp"
#include "registry/detail/errors.hpp"
#include "registry/detail/token.hpp"
#include "registry/detail/transport.hpp"

namespace gantry::registry::detail {

namespace {

constexpr std::size_t kMaxTokenAnswer = 1024 * 1024;

std::vector<Challenge> challenges_in(const Headers& headers) {
  std::vector<Challenge> out;
  for (std::string_view value : find_headers(headers, "WWW-Authenticate")) {
    std::vector<Challenge> some = parse_www_authenticate(value);
    out.insert(out.end(), some.begin(), some.end());
  }
  return out;
}

std::string scope_for(std::string_view repository) { return "repository:" + std::string(repository) + ":pull"; }

}  // namespace

Authenticator::Authenticator(asio::any_io_executor executor, HttpClient& http, const Options& options)
    : http_(http), options_(options), credentials_(options.auth_file), flights_(std::move(executor)) {}

asio::awaitable<std::string> Authenticator::authorization(const Endpoint& endpoint, std::string_view repository) {
  std::optional<Challenge> challenge = co_await challenge_for(endpoint);
  if (!challenge) co_return std::string();
  if (challenge->scheme == "basic") co_return basic_header(endpoint).value_or(std::string());
  std::string token = co_await bearer_token(endpoint, *challenge, scope_for(repository));
  co_return "Bearer " + token;
}

bool Authenticator::unauthorized(const Endpoint& endpoint, std::string_view repository, const std::string& sent,
                                 const Headers& headers) {
  std::string origin = endpoint.url("/").origin();
  std::optional<Challenge> challenge = pick_challenge(challenges_in(headers));
  if (sent.starts_with("Bearer ")) {
    // Drop the token only if it is still the one that was refused: requests
    // sent with it before a refresh come back after it, and must take the
    // new token rather than discard it (one refresh per generation).
    auto cached = tokens_.find({origin, scope_for(repository)});
    if (cached != tokens_.end() && "Bearer " + cached->second.value == sent) tokens_.erase(cached);
    if (challenge) challenges_[origin] = challenge;
    return true;
  }
  // Nothing was sent although /v2/ asked for nothing: this repository is
  // protected on its own. Learn its challenge, unless it is Basic and there
  // is no password to answer with.
  if (sent.empty() && challenge && (challenge->scheme == "bearer" || credentials_.lookup(endpoint.credentials))) {
    challenges_[origin] = challenge;
    return true;
  }
  return false;
}

bool Authenticator::has_credentials(const Endpoint& endpoint) {
  // Only words an error message: a broken credentials file is reported
  // where credentials are used, not in place of the error being told.
  try {
    return credentials_.lookup(endpoint.credentials).has_value();
  } catch (const core::Error&) {
    return false;
  }
}

std::optional<std::string> Authenticator::basic_header(const Endpoint& endpoint) {
  std::optional<Credentials> credentials = credentials_.lookup(endpoint.credentials);
  if (!credentials) return std::nullopt;
  return "Basic " + base64_encode(credentials->username + ":" + credentials->password);
}

asio::awaitable<std::optional<Challenge>> Authenticator::challenge_for(const Endpoint& endpoint) {
  std::string origin = endpoint.url("/").origin();
  std::string key = "ping " + origin;
  while (true) {
    if (auto known = challenges_.find(origin); known != challenges_.end()) co_return known->second;
    if (flights_.active(key)) {
      if (std::exception_ptr error = co_await flights_.wait(key)) std::rethrow_exception(error);
      continue;
    }
    SingleFlight::Guard flight = flights_.begin(key);
    try {
      std::optional<Challenge> challenge = co_await ping(endpoint);
      challenges_[origin] = challenge;
      co_return challenge;
    } catch (...) {
      flight.fail(std::current_exception());
      throw;
    }
  }
}

// GET /v2/ (distribution-spec "Determining support"): 200 means no auth,
// 401 carries the challenge. Anything else is left to the real request.
asio::awaitable<std::optional<Challenge>> Authenticator::ping(const Endpoint& endpoint) {
  Url url = endpoint.url("/v2/");
  Request request{"GET", url, {}};
  Response response = co_await send_following_redirects(http_, request, url, {}, options_);
  core::ErrorContext context{.registry = endpoint.host};
  if (response.status() == 401) {
    std::vector<Challenge> challenges = challenges_in(response.headers());
    std::optional<Challenge> challenge = pick_challenge(challenges);
    if (!challenge) {
      std::string offered(find_header(response.headers(), "WWW-Authenticate").value_or("nothing"));
      throw core::Error(core::ErrorKind::unsupported,
                        "registry asks for an authentication gantry does not speak: " + offered, context);
    }
    co_return challenge;
  }
  if (response.status() >= 500 || response.status() == 429) {
    co_await raise_for_status(response, "/v2/", false, context);
  }
  co_await drain(response);
  co_return std::nullopt;
}

asio::awaitable<std::string> Authenticator::bearer_token(const Endpoint& endpoint, const Challenge& bearer,
                                                         const std::string& scope) {
  std::pair<std::string, std::string> key{endpoint.url("/").origin(), scope};
  std::string flight_key = "token " + key.first + " " + scope;
  while (true) {
    if (auto cached = tokens_.find(key);
        cached != tokens_.end() && cached->second.expires > std::chrono::steady_clock::now()) {
      co_return cached->second.value;
    }
    if (flights_.active(flight_key)) {
      if (std::exception_ptr error = co_await flights_.wait(flight_key)) std::rethrow_exception(error);
      continue;
    }
    SingleFlight::Guard flight = flights_.begin(flight_key);
    try {
      CachedToken token = co_await fetch_token(endpoint, bearer, scope);
      tokens_[key] = token;
      co_return token.value;
    } catch (...) {
      flight.fail(std::current_exception());
      throw;
    }
  }
}

asio::awaitable<Authenticator::CachedToken> Authenticator::fetch_token(const Endpoint& endpoint,
                                                                       const Challenge& bearer,
                                                                       const std::string& scope) {
  core::ErrorContext context{.registry = endpoint.host};
  Url url;
  try {
    url = token_url(bearer, scope);
  } catch (const core::Error& e) {
    // A realm gantry cannot use: the registry whose challenge named it is told.
    throw core::Error(e.kind(), e.message(), merged(e.context(), context));
  }
  // The registry's credentials go to the realm it names (that is the
  // protocol), but never in clear text unless the registry itself is
  // plain or the realm's host is named plain.
  if (url.scheme == "http" && endpoint.scheme == "https" && !plain_http_allowed(options_, url.authority())) {
    throw core::Error(core::ErrorKind::auth, "refusing a plain HTTP token realm for a TLS registry: " + url.string(),
                      context);
  }
  std::string authorization = basic_header(endpoint).value_or(std::string());
  auto started = std::chrono::steady_clock::now();
  Request request{"GET", url, {}};
  Response response =
      co_await send_following_redirects(http_, request, url, authorization, options_);
  if (response.status() != 200) {
    co_await raise_for_status(response, "token for " + scope + " from " + url.authority(), !authorization.empty(),
                              context);
  }
  std::string answer = co_await response.read_all(kMaxTokenAnswer);
  Token token;
  try {
    token = parse_token_response(answer);
  } catch (const core::Error& e) {
    throw core::Error(e.kind(), "token server " + url.authority() + ": " + e.message(), merged(e.context(), context));
  }
  co_return CachedToken{std::move(token.value), started + token_lifetime(token.expires_in)};
}

}  // namespace gantry::registry::detail
