#pragma once
// When a benchmarked container counts as ready, as HelloBench defines it:
// its process exits (successfully), a line of its output matches, or a TCP
// port or an HTTP URL answers (polled every 10 ms by the caller).

#include <regex>
#include <string>
#include <string_view>

namespace gantry::tools::bench {

struct Readiness {
  enum class Kind { exit, line, port, http };
  Kind kind = Kind::exit;
  std::string spec = "exit";  // as given: "exit", "line=REGEX", "port=PORT", "http=URL"
  std::regex line{};          // line: searched in every line of stdout and stderr
  std::string host{};         // port, http: where to connect
  int port = 0;
  std::string path{};         // http: the request's target

  [[nodiscard]] bool polled() const { return kind == Kind::port || kind == Kind::http; }
};

// Error(bad_input) naming the spec: an unknown kind, a bad regex, a port
// outside 1..65535, a URL that is not http://HOST[:PORT][/PATH].
[[nodiscard]] Readiness parse_readiness(std::string_view spec);

// One probe of a polled readiness: the port takes a connection (port), or
// an HTTP GET of the URL gets a response's status line (http; any status:
// the server is up). Never blocks for more than about a second.
[[nodiscard]] bool answers(const Readiness& readiness);

}  // namespace gantry::tools::bench
