#pragma once
// Registry authentication (distribution docs/spec/auth/token.md): learn a
// registry's challenge from `GET /v2/`, answer Bearer challenges with a
// token from the realm (anonymous or with Basic credentials, cached per
// registry and scope until it expires) and Basic challenges with the
// credentials themselves. Credentials come from docker config files and
// helpers (docker_config.hpp) and go to the registry's origin only.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "registry/detail/docker_config.hpp"
#include "registry/detail/endpoint.hpp"
#include "registry/detail/http.hpp"
#include "registry/detail/coro_sync.hpp"
#include "registry/detail/www_authenticate.hpp"
#include "registry/options.hpp"

namespace gantry::registry::detail {

class Authenticator {
 public:
  Authenticator(asio::any_io_executor executor, HttpClient& http, const Options& options);

  // The Authorization header value for requests to `endpoint` about
  // `repository`, empty when the registry wants none. Pings /v2/ the first
  // time a registry is seen; fetches a token when one is needed.
  asio::awaitable<std::string> authorization(const Endpoint& endpoint, std::string_view repository);

  // A request sent with `sent` (the header value, maybe empty) got a 401
  // with these headers. Returns whether one more try may succeed: a Bearer
  // token is dropped (it may have expired) unless a newer one has replaced
  // it meanwhile, a new challenge is learnt; a rejected Basic password will
  // not improve.
  bool unauthorized(const Endpoint& endpoint, std::string_view repository, const std::string& sent,
                    const Headers& headers);

  // Whether credentials are known for `endpoint` (false when they cannot be read).
  [[nodiscard]] bool has_credentials(const Endpoint& endpoint);

 private:
  struct CachedToken {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };

  asio::awaitable<std::optional<Challenge>> challenge_for(const Endpoint& endpoint);
  asio::awaitable<std::optional<Challenge>> ping(const Endpoint& endpoint);
  asio::awaitable<std::string> bearer_token(const Endpoint& endpoint, const Challenge& bearer,
                                            const std::string& scope);
  asio::awaitable<CachedToken> fetch_token(const Endpoint& endpoint, const Challenge& bearer,
                                           const std::string& scope);
  std::optional<std::string> basic_header(const Endpoint& endpoint);

  HttpClient& http_;
  const Options& options_;
  CredentialSource credentials_;
  SingleFlight flights_;
  // By endpoint origin: the challenge /v2/ answered (nullopt: no auth).
  std::map<std::string, std::optional<Challenge>> challenges_;
  // By (endpoint origin, scope).
  std::map<std::pair<std::string, std::string>, CachedToken> tokens_;
};

}  // namespace gantry::registry::detail
