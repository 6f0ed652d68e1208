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

// "message (registry r, repository p, digest d, path x)", always one line:
// messages may quote hostile input (tar names, JSON), so control characters
// are replaced rather than allowed to forge extra lines on a terminal.
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
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  }
  return out;
}

}  // namespace

Error::Error(ErrorKind kind, std::string_view message, ErrorContext context)
    : std::runtime_error(format(message, context)),
      kind_(kind),
      message_(message),
      context_(std::move(context)) {}

Error errno_error(int err, std::string_view what, std::string path) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return Error(ErrorKind::io, message, ErrorContext{.path = std::move(path)});
}

}  // namespace gantry::core
