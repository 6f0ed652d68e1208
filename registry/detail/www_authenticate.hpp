#pragma once
// WWW-Authenticate challenges (RFC 9110 §11.6.1): a registry answers 401
// with `Bearer realm="...",service="...",scope="..."` (docker token auth)
// or `Basic realm="..."`. Several challenges may share one header, and
// quoted values may hold commas, so a split on ',' is not a parser.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::registry::detail {

struct Challenge {
  std::string scheme;                         // lowercase: "bearer", "basic", ...
  std::map<std::string, std::string> params;  // lowercase names, unquoted values
  std::string token68;                        // the rare `Scheme token68` form

  [[nodiscard]] std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

// Every challenge in one header value, in order. Malformed parts end the
// parse; what was parsed before them is kept (a client can still use it).
[[nodiscard]] std::vector<Challenge> parse_www_authenticate(std::string_view header);

// The challenge gantry answers: Bearer when offered (it does not send the
// password to the registry), else Basic; none for unknown schemes.
[[nodiscard]] std::optional<Challenge> pick_challenge(const std::vector<Challenge>& challenges);

}  // namespace gantry::registry::detail
