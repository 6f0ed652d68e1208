#include "core/error.hpp"

#include <cstring>

namespace gantry::core {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::network: return "network";
    case ErrorKind::auth: return "auth";
    case ErrorKind::not_found: return "not-found";
    case ErrorKind::bad_input: return "bad-input";
    case ErrorKind::digest_mismatch: return "digest-mismatch";
    case ErrorKind::unsafe_path: return "unsafe-path";
    case ErrorKind::io: return "io";
    case ErrorKind::unsupported: return "unsupported";
  }
  return "unknown";
}

namespace {

// Messages quote hostile input (tar names, JSON, headers): control characters
// are replaced so that an error stays one line and cannot drive a terminal.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  }
  return out;
}

// "message (registry r, repository p, digest d, path x)"
std::string format(std::string_view message, const ErrorContext& c) {
  std::string out(message);
  std::string ctx;
  auto add = [&](std::string_view label, const std::string& value) {
    if (value.empty()) return;
    if (!ctx.empty()) ctx += ", ";
    ctx.append(label).append(" ").append(value);
  };
  add("registry", c.registry);
  add("repository", c.repository);
  add("digest", c.digest);
  add("path", c.path);
  if (!ctx.empty()) out += " (" + ctx + ")";
  return one_line(out);
}

}  // namespace

Error::Error(ErrorKind kind, std::string_view message, ErrorContext context)
    : std::runtime_error(format(message, context)),
      kind_(kind),
      message_(one_line(message)),
      context_(std::move(context)) {}

Error prefixed(const Error& e, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += e.message();
  return Error(e.kind(), message, e.context());
}

Error errno_error(int err, std::string_view what, std::string path) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return Error(ErrorKind::io, message, ErrorContext{.path = std::move(path)});
}

}  // namespace gantry::core
