#pragma once
// Docker registry token auth (distribution docs/spec/auth/token.md): the
// request to the realm named by a Bearer challenge and its JSON answer.

#include <chrono>
#include <string>
#include <string_view>

#include "registry/detail/url.hpp"
#include "registry/detail/www_authenticate.hpp"

namespace gantry::registry::detail {

struct Token {
  std::string value;
  std::chrono::seconds expires_in{60};
};

// `token`, else `access_token` (the OAuth2 spelling some servers use only);
// `expires_in` when positive, else 60 s, the spec's default. Error(auth)
// when neither token is there or the token is not visible ASCII (it goes
// into an Authorization header: a CR/LF in it would inject header lines;
// RFC 7235 §2.1 token68 is stricter still), Error(bad_input) for JSON that
// is not an object.
[[nodiscard]] Token parse_token_response(std::string_view json);

// GET realm?service=...&scope=... for one scope ("repository:NAME:pull").
// The realm must be an absolute http(s) URL of visible ASCII (Error(auth)
// otherwise); service and scope are percent-encoded into the query.
[[nodiscard]] Url token_url(const Challenge& bearer, std::string_view scope);

// How long to use a token that came with `expires_in`: stop a little early
// so a request does not arrive with a token that expires on the way.
[[nodiscard]] std::chrono::seconds token_lifetime(std::chrono::seconds expires_in);

}  // namespace gantry::registry::detail
