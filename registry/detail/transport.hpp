#pragma once
// Requests as the registry layers send them: redirects followed under the
// hop rules of redirect.hpp, and answers that cannot be used turned into
// errors.

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "registry/detail/http.hpp"
#include "registry/options.hpp"

namespace gantry::registry::detail {

// Sends `request`, follows up to kMaxRedirects redirects, and returns the
// first answer that is not one. `authorization` (may be empty) is sent only
// to the origin of `credentials_owner`: a blob store or CDN that the
// registry redirects to never sees it.
asio::awaitable<Response> send_following_redirects(HttpClient& http, const Request& request,
                                                   const Url& credentials_owner, const std::string& authorization,
                                                   const Options& options);

// Reads and drops a body of known, short length so that the connection can
// serve the next request; a long or unknown one is left (and the connection
// closed with the response).
asio::awaitable<void> drain(Response& response);

// Throws for an answer the caller cannot use: reads a short error body for
// the registry's own message, then status_error() (errors.hpp) — as a
// TransientError, carrying Retry-After, when the status is worth a retry.
asio::awaitable<void> raise_for_status(Response& response, std::string_view what, bool sent_credentials,
                                       core::ErrorContext context);

}  // namespace gantry::registry::detail
