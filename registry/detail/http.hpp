#pragma once
// HTTP/1.1 over plain TCP or TLS, with keep-alive connections pooled per
// origin. The only interface to the one translation unit that includes
// Beast, Asio's networking and OpenSSL (http.cpp): everything else in
// registry/ sees requests, answers and body reads, not streams.
//
// Bodies are read by this layer, not by Beast's parser: the header is
// parsed by Beast, then the body goes straight from the socket into the
// caller's big buffer (Content-Length, chunked or until close), because
// Beast's body loop reads 512 bytes at a time (MACHINE-NOTES.md).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "registry/detail/proxy.hpp"
#include "registry/detail/url.hpp"
#include "registry/options.hpp"

namespace gantry::registry::detail {

namespace asio = boost::asio;

using Headers = std::vector<std::pair<std::string, std::string>>;

// The first header of that name (names compare case-insensitively).
[[nodiscard]] std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);
// Every header of that name, in order (WWW-Authenticate may come several times).
[[nodiscard]] std::vector<std::string_view> find_headers(const Headers& headers, std::string_view name);

struct Request {
  std::string method = "GET";  // GET or HEAD: gantry sends no request bodies
  Url url;
  Headers headers;             // Host and User-Agent are added
};

struct HttpSettings {
  std::string ca_file;  // PEM CAs trusted on top of the system's
  // CAs and a client certificate of one origin ("https://host:port"), for
  // the connections to that origin only.
  std::map<std::string, HostTls> host_tls;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds stall_timeout{std::chrono::seconds(30)};
  std::string user_agent;
  // Where requests go through an HTTP proxy: https ones through a CONNECT
  // tunnel (TLS to the registry inside it), http ones as absolute-form
  // requests to the proxy. Connections are pooled per (proxy, origin).
  ProxySettings proxies;
};

// An answer whose header has arrived and whose body is still on the
// connection. Destroyed after its body was read to the end, the connection
// returns to the pool; otherwise it is closed.
class Response {
 public:
  struct State;
  explicit Response(std::unique_ptr<State> state);
  Response(Response&&) noexcept;
  Response& operator=(Response&&) noexcept;
  ~Response();

  [[nodiscard]] unsigned status() const noexcept;
  [[nodiscard]] const Headers& headers() const noexcept;
  [[nodiscard]] const Url& url() const noexcept;  // what was asked
  // The body's declared length; nullopt for chunked or until-close bodies.
  [[nodiscard]] std::optional<std::int64_t> content_length() const noexcept;

  // The next body bytes, placed at the front of `buffer`: at least a
  // quarter of it unless the body ends first, 0 once it has ended. Each
  // wait for the network is bounded by the stall timeout. Errors are
  // TransientError(network): a cut or stalled body may be resumed.
  asio::awaitable<std::size_t> read(std::span<std::byte> buffer);
  // The whole body; Error(bad_input) when it is longer than `limit`.
  asio::awaitable<std::string> read_all(std::size_t limit);

 private:
  std::unique_ptr<State> state_;
};

class HttpClient {
 public:
  HttpClient(asio::any_io_executor executor, HttpSettings settings);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a request on a pooled or new connection and returns when the
  // answer's header is in (a pooled connection the server had closed is
  // replaced transparently). Errors: TransientError(network) for what
  // another attempt may cure (refused, reset, timeout, DNS "try again");
  // core::Error(network) for what it will not (TLS verification, a TLS
  // server that speaks plain HTTP, unknown host).
  asio::awaitable<Response> send(const Request& request);

  struct Pool;

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace gantry::registry::detail
