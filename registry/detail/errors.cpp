#include "registry/detail/errors.hpp"

#include <nlohmann/json.hpp>

namespace gantry::registry::detail {

namespace {

std::string_view reason_phrase(unsigned status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

std::string status_line(unsigned status) {
  std::string out = std::to_string(status);
  std::string_view reason = reason_phrase(status);
  if (!reason.empty()) out.append(" ").append(reason);
  return out;
}

// The registry's own words, bounded: an error body may be anything.
std::string server_says(std::string_view body) {
  std::optional<ErrorBody> parsed = parse_error_body(body);
  if (!parsed || parsed->message.empty()) return {};
  std::string message = parsed->message.substr(0, 200);
  return message;
}

}  // namespace

std::optional<ErrorBody> parse_error_body(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  auto errors = doc.find("errors");
  if (errors == doc.end() || !errors->is_array() || errors->empty() || !(*errors)[0].is_object()) return std::nullopt;
  const nlohmann::json& first = (*errors)[0];
  ErrorBody out;
  if (auto code = first.find("code"); code != first.end() && code->is_string()) out.code = code->get<std::string>();
  if (auto message = first.find("message"); message != first.end() && message->is_string()) {
    out.message = message->get<std::string>();
  }
  return out;
}

core::ErrorContext merged(core::ErrorContext base, const core::ErrorContext& over) {
  for (auto field : {&core::ErrorContext::registry, &core::ErrorContext::repository, &core::ErrorContext::digest,
                     &core::ErrorContext::path}) {
    if (!(over.*field).empty()) base.*field = over.*field;
  }
  return base;
}

core::Error status_error(unsigned status, std::string_view what, std::string_view body, bool sent_credentials,
                         core::ErrorContext context) {
  std::string says = server_says(body);
  auto with_server = [&](std::string message) {
    if (!says.empty()) message += " (registry: " + says + ")";
    return message;
  };
  using core::ErrorKind;
  if (status == 401) {
    return core::Error(ErrorKind::auth,
                       with_server(sent_credentials ? "401 Unauthorized: wrong credentials"
                                                    : "401 Unauthorized: authentication required, no credentials"),
                       std::move(context));
  }
  if (status == 403) {
    return core::Error(ErrorKind::auth, with_server("403 Forbidden: access to " + std::string(what) + " denied"),
                       std::move(context));
  }
  if (status == 404) {
    std::string prefix = says.empty() ? "404 Not Found" : says;
    return core::Error(ErrorKind::not_found, prefix + ": " + std::string(what) + " not found", std::move(context));
  }
  if (status == 408 || status == 429 || status >= 500) {
    return core::Error(ErrorKind::network, with_server(status_line(status) + " for " + std::string(what)),
                       std::move(context));
  }
  ErrorKind kind = status >= 400 && status < 500 ? ErrorKind::bad_input : ErrorKind::network;
  return core::Error(kind, with_server("unexpected HTTP status " + status_line(status) + " for " + std::string(what)),
                     std::move(context));
}

}  // namespace gantry::registry::detail
