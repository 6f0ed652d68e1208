#include "registry/detail/token.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace gantry::registry::detail {

Token parse_token_response(std::string_view text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    throw core::Error(core::ErrorKind::bad_input, "the answer is not a JSON object");
  }
  Token token;
  for (const char* field : {"token", "access_token"}) {
    auto it = doc.find(field);
    if (it != doc.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      token.value = it->get<std::string>();
      break;
    }
  }
  if (token.value.empty()) {
    throw core::Error(core::ErrorKind::auth, "the answer holds no token");
  }
  if (!is_visible_ascii(token.value)) {
    throw core::Error(core::ErrorKind::auth,
                      "the token has a space, control or non-ASCII character in it (not allowed in a header)");
  }
  auto expires = doc.find("expires_in");
  if (expires != doc.end() && expires->is_number_integer() && expires->get<std::int64_t>() > 0) {
    token.expires_in = std::chrono::seconds(expires->get<std::int64_t>());
  }
  return token;
}

Url token_url(const Challenge& bearer, std::string_view scope) {
  std::string realm = bearer.param("realm");
  if (realm.empty()) throw core::Error(core::ErrorKind::auth, "Bearer challenge without a realm");
  Url url;
  try {
    url = Url::parse(realm);
  } catch (const core::Error& e) {
    throw core::Error(core::ErrorKind::auth, "Bearer challenge with an invalid realm: " + e.message());
  }
  char sep = url.target.find('?') == std::string::npos ? '?' : '&';
  std::string service = bearer.param("service");
  if (!service.empty()) {
    url.target += sep;
    url.target += "service=" + query_escape(service);
    sep = '&';
  }
  url.target += sep;
  url.target += "scope=" + query_escape(scope);
  return url;
}

std::chrono::seconds token_lifetime(std::chrono::seconds expires_in) {
  return expires_in - std::min(std::chrono::seconds(10), expires_in / 4);
}

}  // namespace gantry::registry::detail
