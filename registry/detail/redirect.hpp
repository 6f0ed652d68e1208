#pragma once
// Following redirects safely. Registries send blob GETs to object stores
// and CDNs (307 to a signed URL): the new host gets no credentials, a chain
// is bounded, and HTTPS never turns into plain HTTP unless the options name
// the target host as plain (no silent downgrade).

#include <functional>
#include <string_view>

#include "registry/detail/url.hpp"

namespace gantry::registry::detail {

inline constexpr int kMaxRedirects = 5;

// 301, 302, 303, 307, 308 (RFC 9110 §15.4); 300 and 304 are not followed.
[[nodiscard]] bool is_redirect(unsigned status);

// Location resolved against the URL that answered (RFC 9110 §10.2.2 allows
// a relative reference): absolute, scheme-relative "//host/p", absolute
// path "/p", or a relative path. Error(bad_input) naming the host of `base`
// when it cannot be used: not a URL, or a space, control or non-ASCII byte
// in it (it would be written into the next request line: is_visible_ascii).
[[nodiscard]] Url resolve_location(const Url& base, std::string_view location);

// The next hop after redirect number `hop` (from 1) to `location`:
// Error(network) beyond kMaxRedirects, Error(network) for an https -> http
// hop unless `plain_allowed(authority)` says the target host is plain.
[[nodiscard]] Url follow_redirect(const Url& from, std::string_view location, int hop,
                                  const std::function<bool(std::string_view authority)>& plain_allowed);

// Credentials of `owner` (the registry the user gave them for) go to `target`
// only when it is the very same origin: scheme, host and port.
[[nodiscard]] bool may_send_credentials(const Url& owner, const Url& target);

}  // namespace gantry::registry::detail
