#include "tools/gantry/bench/readiness.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "core/error.hpp"
#include "core/file_handle.hpp"

namespace gantry::tools::bench {
namespace {

using core::Error;
using core::ErrorKind;

Error bad_spec(std::string_view spec, std::string_view why) {
  return Error(ErrorKind::bad_input, "gantry bench: --ready " + std::string(spec) + ": " + std::string(why) +
                                         " (expected exit, line=REGEX, port=PORT or http=URL)");
}

int parse_port(std::string_view spec, std::string_view text) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
    throw bad_spec(spec, "not a port: " + std::string(text));
  }
  return port;
}

// http://HOST[:PORT][/PATH]; HOST a name, an IPv4 address or [IPv6].
void parse_url(std::string_view spec, std::string_view url, Readiness& r) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) throw bad_spec(spec, "only http:// URLs are polled");
  url.remove_prefix(scheme.size());
  const std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  r.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  r.port = 80;
  std::size_t colon = authority.rfind(':');
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw bad_spec(spec, "unclosed [ in the host");
    r.host = std::string(authority.substr(1, close - 1));
    colon = close + 1 < authority.size() && authority[close + 1] == ':' ? close + 1 : std::string_view::npos;
  } else {
    r.host = std::string(authority.substr(0, colon));
  }
  if (colon != std::string_view::npos) r.port = parse_port(spec, authority.substr(colon + 1));
  if (r.host.empty()) throw bad_spec(spec, "no host in the URL");
  for (char c : r.path) {
    // The target goes into a request line as it is: nothing that ends it.
    if (c <= ' ' || c == 0x7f) throw bad_spec(spec, "a space or control character in the URL");
  }
}

// A connected TCP socket to host:port, or none; waits at most a second.
core::FileHandle connect_to(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return {};
  core::FileHandle connected;
  for (addrinfo* a = found; a != nullptr && !connected; a = a->ai_next) {
    core::FileHandle socket(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!socket) continue;
    // connect(2) and recv(2) honour these: no probe outlives the poll interval by much.
    const timeval limit{.tv_sec = 1, .tv_usec = 0};
    ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    ::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    if (::connect(socket.get(), a->ai_addr, a->ai_addrlen) == 0) connected = std::move(socket);
  }
  ::freeaddrinfo(found);
  return connected;
}

bool http_answers(const Readiness& r) {
  core::FileHandle socket = connect_to(r.host, r.port);
  if (!socket) return false;
  const std::string request = "GET " + r.path + " HTTP/1.0\r\nHost: " + r.host + "\r\nConnection: close\r\n\r\n";
  if (::send(socket.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return false;
  }
  char status[5];
  std::size_t got = 0;
  while (got < sizeof status) {
    const ssize_t n = ::recv(socket.get(), status + got, sizeof status - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return std::memcmp(status, "HTTP/", sizeof status) == 0;
}

}  // namespace

Readiness parse_readiness(std::string_view spec) {
  Readiness r;
  r.spec = std::string(spec);
  const std::size_t equals = spec.find('=');
  const std::string_view kind = spec.substr(0, equals);
  const std::string_view value = equals == std::string_view::npos ? std::string_view() : spec.substr(equals + 1);
  if (kind == "exit" && equals == std::string_view::npos) return r;
  if (equals == std::string_view::npos || value.empty()) throw bad_spec(spec, "no value");
  if (kind == "line") {
    r.kind = Readiness::Kind::line;
    try {
      r.line = std::regex(std::string(value), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw bad_spec(spec, std::string("not a regular expression: ") + e.what());
    }
  } else if (kind == "port") {
    r.kind = Readiness::Kind::port;
    r.host = "127.0.0.1";
    r.port = parse_port(spec, value);
  } else if (kind == "http") {
    r.kind = Readiness::Kind::http;
    parse_url(spec, value, r);
  } else {
    throw bad_spec(spec, "unknown kind");
  }
  return r;
}

bool answers(const Readiness& r) {
  switch (r.kind) {
    case Readiness::Kind::port: return static_cast<bool>(connect_to(r.host, r.port));
    case Readiness::Kind::http: return http_answers(r);
    default: return false;
  }
}

}  // namespace gantry::tools::bench
