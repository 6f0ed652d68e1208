// The one translation unit with Beast, Asio networking and OpenSSL in it
// (each such unit costs ~25 s to compile): connections, TLS, the pool, the
// request/header exchange and the body reader.
#include "registry/detail/http.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "core/error.hpp"
#include "registry/detail/chunked_decoder.hpp"
#include "registry/detail/errors.hpp"

namespace gantry::registry::detail {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Parser = http::response_parser<http::empty_body>;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxIdlePerOrigin = 16;
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// Reserved up front so that reading a header takes one read, not a 512-byte loop.
constexpr std::size_t kHeaderBuffer = 16 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

core::ErrorContext context_of(const Url& url) { return core::ErrorContext{.registry = url.authority()}; }

// A network failure another attempt may cure.
TransientError transient(const Url& url, const std::string& step, const beast::error_code& ec,
                         std::chrono::milliseconds stall) {
  std::string why = ec == beast::error::timeout ? "no data for " + seconds_text(stall) + " (stall timeout)"
                                                : ec.message();
  return TransientError(core::Error(core::ErrorKind::network, step + " " + url.authority() + ": " + why,
                                    context_of(url)));
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

// The last line against header injection (CWE-113): what came from the
// network was checked where it entered (token, Location, realm), but a CR,
// LF or NUL that reached the writer would still end a line of the request,
// and Beast writes targets and fields as given.
void refuse_line_breaks(const Request& request, const std::string& user_agent) {
  auto check = [&](std::string_view text, const std::string& where) {
    if (text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos) return;
    throw core::Error(core::ErrorKind::bad_input,
                      "refusing to send a request to " + request.url.authority() + ": a CR, LF or NUL in the " + where,
                      context_of(request.url));
  };
  check(request.method, "method");
  check(request.url.target, "request target");
  check(request.url.authority(), "Host header");
  check(user_agent, "User-Agent header");
  for (const auto& [name, value] : request.headers) {
    check(name, "name of a header");
    check(value, name + " header");
  }
}

// The reason OpenSSL queued for the call that just failed.
std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no reason given by OpenSSL";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// One checked step of the TLS setup.
void tls_step(bool ok, std::string_view step, const Url& url) {
  if (ok) return;
  throw core::Error(core::ErrorKind::network,
                    "TLS setup for " + url.authority() + ": cannot " + std::string(step) + ": " + openssl_reason(),
                    context_of(url));
}

// What the certificate must name, and SNI. SNI carries host names, never
// addresses (RFC 6066 §3); the certificate must match the host either way:
// a DNS name or an iPAddress subjectAltName (RFC 6125, OpenSSL's checks).
void name_the_peer(SSL* ssl, const Url& url) {
  if (is_ip_literal(url.host)) {
    tls_step(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) == 1,
             "set the IP address to verify", url);
    return;
  }
  tls_step(SSL_set_tlsext_host_name(ssl, url.host.c_str()) == 1, "set the SNI host name", url);
  tls_step(SSL_set1_host(ssl, url.host.c_str()) == 1, "set the host name to verify", url);
}

// Belt and braces after a handshake that succeeded: with SSL_VERIFY_PEER it
// cannot have without a verified certificate, and this holds even if that
// setting had not taken.
void confirm_verified(SSL* ssl, const Url& url) {
  if (SSL_get0_peer_certificate(ssl) != nullptr && SSL_get_verify_result(ssl) == X509_V_OK) return;
  throw core::Error(core::ErrorKind::network,
                    "TLS handshake with " + url.authority() + ": the server's certificate was not verified",
                    context_of(url));
}

void trust_ca_file(SSL_CTX* native, const std::string& file) {
  if (SSL_CTX_load_verify_locations(native, file.c_str(), nullptr) == 1) return;
  throw core::Error(core::ErrorKind::bad_input, "cannot load the CA file: " + openssl_reason(),
                    core::ErrorContext{.path = file});
}

// The certificate a server asking for one gets (TLS client authentication).
// A key behind a pass phrase fails to load instead of prompting on the
// terminal, OpenSSL's default: gantry runs unattended.
void present_client_certificate(SSL_CTX* native, const ClientCertificate& client) {
  auto step = [](bool ok, std::string_view what, const std::string& file) {
    if (ok) return;
    throw core::Error(core::ErrorKind::bad_input,
                      "cannot load the client " + std::string(what) + ": " + openssl_reason(),
                      core::ErrorContext{.path = file});
  };
  SSL_CTX_set_default_passwd_cb(native, [](char*, int, int, void*) { return 0; });
  step(SSL_CTX_use_certificate_chain_file(native, client.cert_file.c_str()) == 1, "certificate", client.cert_file);
  step(SSL_CTX_use_PrivateKey_file(native, client.key_file.c_str(), SSL_FILETYPE_PEM) == 1,
       "key (one without a pass phrase)", client.key_file);
  step(SSL_CTX_check_private_key(native) == 1, "key, which does not match the certificate", client.key_file);
}

// Peer verification against the system's CAs, `ca_file` and the host's own
// CAs always; the host's client certificate if it has one; TLS 1.2 at
// least; HTTP/1.1 only, as the body reader speaks nothing else. Every call
// is checked: a setting that did not take would leave a weaker connection
// that still works, so it is an error instead.
ssl::context make_tls_context(const Url& url, const std::string& ca_file, const HostTls* own) {
  SSL_CTX* native = SSL_CTX_new(TLS_client_method());
  tls_step(native != nullptr, "create a TLS context", url);
  ssl::context ctx(native);  // owns it from here
  tls_step(SSL_CTX_set_default_verify_paths(native) == 1, "load the system's CAs", url);
  if (!ca_file.empty()) trust_ca_file(native, ca_file);
  if (own != nullptr) {
    for (const std::string& file : own->ca_files) trust_ca_file(native, file);
    if (own->client) present_client_certificate(native, *own->client);
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);  // returns nothing; confirmed after each handshake
  tls_step(SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) == 1, "require TLS 1.2 or later", url);
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  tls_step(SSL_CTX_set_alpn_protos(native, kAlpn, sizeof kAlpn) == 0, "offer ALPN http/1.1", url);  // 0 is success
  return ctx;
}

}  // namespace

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::vector<std::string_view> find_headers(const Headers& headers, std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) out.emplace_back(value);
  }
  return out;
}

// One connection: its stream, and the bytes read past the last header.
struct Connection {
  Connection(asio::any_io_executor executor, std::string origin_key)
      : origin(std::move(origin_key)), stream(std::in_place_type<PlainStream>, executor) {}
  Connection(asio::any_io_executor executor, ssl::context& tls, std::string origin_key)
      : origin(std::move(origin_key)), stream(std::in_place_type<TlsStream>, executor, tls) {}

  beast::tcp_stream& tcp() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, stream);
  }

  // An idle connection is usable only while the server has said nothing:
  // readable means closed (EOF), a TLS close_notify, or junk.
  bool idle_and_open() {
    if (!tcp().socket().is_open()) return false;
    char probe = 0;
    ssize_t n = ::recv(tcp().socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  std::string origin;
  std::variant<PlainStream, TlsStream> stream;
  beast::flat_buffer buffer;
};

struct HttpClient::Pool {
  Pool(asio::any_io_executor ex, HttpSettings s) : executor(std::move(ex)), settings(std::move(s)) {}

  // Made at the first TLS connection, one for the origins with TLS
  // settings of their own and one shared by all others: loading the
  // system's CAs costs ~30 ms, most of a warm `gantry run`, which may not
  // talk to a registry at all.
  ssl::context& tls_context(const Url& url) {
    std::string origin = url.origin();
    auto own = settings.host_tls.find(origin);
    if (own == settings.host_tls.end()) {
      if (!shared_tls) shared_tls.emplace(make_tls_context(url, settings.ca_file, nullptr));
      return *shared_tls;
    }
    auto made = own_tls.find(origin);
    if (made == own_tls.end()) {
      made = own_tls.emplace(origin, make_tls_context(url, settings.ca_file, &own->second)).first;
    }
    return made->second;
  }

  std::unique_ptr<Connection> take(const std::string& origin) {
    auto it = idle.find(origin);
    while (it != idle.end() && !it->second.empty()) {
      std::unique_ptr<Connection> conn = std::move(it->second.back());
      it->second.pop_back();
      if (conn->idle_and_open()) return conn;
    }
    return nullptr;
  }

  void give_back(std::unique_ptr<Connection> conn) {
    conn->tcp().expires_never();
    auto& list = idle[conn->origin];
    if (list.size() < kMaxIdlePerOrigin) list.push_back(std::move(conn));
  }

  asio::awaitable<std::unique_ptr<Connection>> connect(const Url& url, const Proxy* proxy, const std::string& key);

  asio::any_io_executor executor;
  HttpSettings settings;
  std::optional<ssl::context> shared_tls;
  std::map<std::string, ssl::context> own_tls;  // by origin
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
};

namespace {

// What a refusal of the client's certificate (or of its lack of one) may need.
std::string client_certificate_hint(const beast::error_code& ec) {
  int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  bool about_ours = reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED;
  return about_ours ? " (does it want a client certificate? `client` in the host's hosts.toml)" : "";
}

// What a failed TLS handshake means: a certificate problem or a server
// that does not speak TLS will not change on a retry; a dropped
// connection might.
core::Error handshake_error(const Url& url, SSL* ssl, const beast::error_code& ec, std::chrono::milliseconds limit) {
  std::string step = "TLS handshake with " + url.authority() + ": ";
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return core::Error(core::ErrorKind::network,
                       step + "certificate verify failed: " + X509_verify_cert_error_string(verify), context_of(url));
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    std::string reason = ec.message();
    if (reason.find("wrong version number") != std::string::npos) reason += " (is it a plain HTTP server?)";
    return core::Error(core::ErrorKind::network, step + reason + client_certificate_hint(ec), context_of(url));
  }
  return transient(url, "TLS handshake with", ec, limit);
}

// A TLS alert from the server: it refused this client. With TLS 1.3 a
// server checks the client's certificate after the client's side of the
// handshake is done, so the refusal arrives with the first request's
// answer; no retry changes it.
std::optional<core::Error> tls_refusal(const Url& url, const beast::error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return std::nullopt;
  if (ERR_GET_REASON(static_cast<unsigned long>(ec.value())) < SSL_AD_REASON_OFFSET) return std::nullopt;
  return core::Error(core::ErrorKind::network,
                     "request to " + url.authority() + ": refused by the server's TLS: " + ec.message() +
                         client_certificate_hint(ec),
                     context_of(url));
}

template <class Stream>
asio::awaitable<beast::error_code> exchange_on(Stream& stream, beast::flat_buffer& buffer,
                                               http::request<http::empty_body>& request, Parser& parser,
                                               std::chrono::milliseconds stall) {
  beast::get_lowest_layer(stream).expires_after(stall);
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  if (write_ec) co_return write_ec;
  beast::get_lowest_layer(stream).expires_after(stall);
  auto [read_ec, read] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  co_return read_ec;
}

template <class Stream>
asio::awaitable<std::pair<beast::error_code, std::size_t>> read_some_on(Stream& stream, asio::mutable_buffer buffer,
                                                                        std::chrono::milliseconds stall) {
  beast::get_lowest_layer(stream).expires_after(stall);
  auto [ec, n] = co_await stream.async_read_some(buffer, kTuple);
  co_return std::make_pair(ec, n);
}

// Opens a tunnel to `target` through the proxy `stream` is connected to
// (RFC 9110 §9.3.6 CONNECT). The proxy's credentials go in this request
// only; the registry's go inside the TLS session the tunnel then carries,
// so the proxy never sees them.
asio::awaitable<void> open_tunnel(beast::tcp_stream& stream, const Url& target, const Proxy& proxy,
                                  std::chrono::milliseconds timeout) {
  std::string authority =
      (target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host) + ":" + target.port;
  http::request<http::empty_body> request{http::verb::connect, authority, 11};
  request.set(http::field::host, authority);
  if (!proxy.authorization.empty()) request.set(http::field::proxy_authorization, proxy.authorization);
  stream.expires_after(timeout);
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  if (write_ec) throw transient(proxy.url, "CONNECT through proxy", write_ec, timeout);
  beast::flat_buffer buffer;
  Parser parser;
  parser.header_limit(kHeaderLimit);
  parser.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel starts after the header
  auto [read_ec, read] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  if (read_ec) throw transient(proxy.url, "CONNECT through proxy", read_ec, timeout);
  const auto& head = parser.get();
  if (head.result_int() / 100 != 2) {
    throw core::Error(core::ErrorKind::network,
                      "proxy " + proxy.url.authority() + " refused CONNECT to " + authority + ": " +
                          std::to_string(head.result_int()) + " " + std::string(head.reason()),
                      context_of(target));
  }
  if (buffer.size() != 0) {
    throw core::Error(core::ErrorKind::network,
                      "proxy " + proxy.url.authority() + " sent bytes before the TLS handshake with " + authority,
                      context_of(target));
  }
}

// What connections are pooled by: the origin, and the proxy on the way.
std::string pool_key(const Url& url, const Proxy* proxy) {
  return proxy ? url.origin() + " via " + proxy->url.origin() : url.origin();
}

}  // namespace

asio::awaitable<std::unique_ptr<Connection>> HttpClient::Pool::connect(const Url& url, const Proxy* proxy,
                                                                       const std::string& key) {
  const Url& peer = proxy ? proxy->url : url;
  std::string connect_step = proxy ? "connect to proxy" : "connect to";
  tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(peer.host, peer.port, kTuple);
  if (resolve_ec == asio::error::host_not_found_try_again) throw transient(peer, "resolve", resolve_ec, {});
  if (resolve_ec) {
    throw core::Error(core::ErrorKind::network, "resolve " + peer.host + ": " + resolve_ec.message(), context_of(peer));
  }

  bool use_tls = url.scheme == "https";
  auto conn = use_tls ? std::make_unique<Connection>(executor, tls_context(url), key)
                      : std::make_unique<Connection>(executor, key);
  beast::tcp_stream& lowest = conn->tcp();
  lowest.expires_after(settings.connect_timeout);
  auto [connect_ec, endpoint] = co_await lowest.async_connect(endpoints, kTuple);
  if (connect_ec) throw transient(peer, connect_step, connect_ec, settings.connect_timeout);
  lowest.socket().set_option(tcp::no_delay(true));
  conn->buffer.reserve(kHeaderBuffer);

  if (use_tls && proxy) co_await open_tunnel(lowest, url, *proxy, settings.connect_timeout);
  if (use_tls) {
    auto& stream = std::get<TlsStream>(conn->stream);
    SSL* ssl = stream.native_handle();
    name_the_peer(ssl, url);
    lowest.expires_after(settings.connect_timeout);
    auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, kTuple);
    if (handshake_ec) throw handshake_error(url, ssl, handshake_ec, settings.connect_timeout);
    confirm_verified(ssl, url);
  }
  lowest.expires_never();
  co_return conn;
}

// Response state: the connection, and how far through the body we are.
struct Response::State {
  enum class Framing { none, length, chunked, until_close };

  std::shared_ptr<HttpClient::Pool> pool;
  std::unique_ptr<Connection> conn;
  Url url;
  unsigned status = 0;
  Headers headers;
  Framing framing = Framing::none;
  std::optional<std::int64_t> content_length;
  std::int64_t remaining = 0;  // for Framing::length
  std::int64_t received = 0;   // body bytes so far, for messages
  ChunkedDecoder chunked;
  bool keep_alive = false;
  bool complete = false;
  std::exception_ptr failure;  // met after some bytes of a read; thrown by the next
  std::chrono::milliseconds stall{};

  // Raw bytes: first those read along with the header, then the socket.
  // 0 only at a clean end of stream.
  asio::awaitable<std::size_t> read_raw(std::span<std::byte> out) {
    if (conn->buffer.size() != 0) {
      std::size_t n = asio::buffer_copy(asio::buffer(out.data(), out.size()), conn->buffer.data());
      conn->buffer.consume(n);
      co_return n;
    }
    auto [ec, n] = co_await std::visit(
        [&](auto& stream) { return read_some_on(stream, asio::buffer(out.data(), out.size()), stall); },
        conn->stream);
    bool end_of_stream = ec == asio::error::eof || ec == ssl::error::stream_truncated;
    if (end_of_stream && framing == Framing::until_close) co_return 0;
    if (end_of_stream) {
      std::string of = content_length ? " of " + std::to_string(*content_length) : "";
      throw TransientError(core::Error(
          core::ErrorKind::network,
          "connection closed by " + url.authority() + " after " + std::to_string(received) + of + " body bytes",
          context_of(url)));
    }
    if (ec) throw transient(url, "reading from", ec, stall);
    co_return n;
  }
};

Response::Response(std::unique_ptr<State> state) : state_(std::move(state)) {}
Response::Response(Response&&) noexcept = default;
Response& Response::operator=(Response&&) noexcept = default;
Response::~Response() {
  if (state_ && state_->conn && state_->complete && state_->keep_alive) state_->pool->give_back(std::move(state_->conn));
}

unsigned Response::status() const noexcept { return state_->status; }
const Headers& Response::headers() const noexcept { return state_->headers; }
const Url& Response::url() const noexcept { return state_->url; }
std::optional<std::int64_t> Response::content_length() const noexcept { return state_->content_length; }

asio::awaitable<std::size_t> Response::read(std::span<std::byte> buffer) {
  State& s = *state_;
  if (s.failure) std::rethrow_exception(std::exchange(s.failure, nullptr));
  std::size_t want = std::max<std::size_t>(1, buffer.size() / 4);
  std::size_t filled = 0;
  while (!s.complete && filled < want) {
    std::span<std::byte> space = buffer.subspan(filled);
    if (s.framing == State::Framing::length) {
      // Never past the body: the next answer on this connection starts there.
      space = space.first(static_cast<std::size_t>(std::min<std::int64_t>(s.remaining, space.size())));
    }
    std::size_t n = 0;
    try {
      n = co_await s.read_raw(space);
    } catch (const core::Error&) {
      // Bytes already in the buffer are delivered first, so that a resume
      // starts right after them; the failure comes with the next read.
      if (filled == 0) throw;
      s.failure = std::current_exception();
      break;
    }
    switch (s.framing) {
      case State::Framing::length:
        s.remaining -= static_cast<std::int64_t>(n);
        s.complete = s.remaining == 0;
        break;
      case State::Framing::chunked: {
        std::size_t raw = n;
        ChunkedDecoder::Result r = s.chunked.decode(space.first(raw));
        n = r.data;
        if (s.chunked.done()) {
          s.complete = true;
          // Bytes after the last chunk would be a reply to nothing: do not
          // reuse a connection that is out of step.
          if (r.consumed < raw || s.conn->buffer.size() != 0) s.keep_alive = false;
        }
        break;
      }
      case State::Framing::until_close:
        s.complete = n == 0;
        break;
      case State::Framing::none:
        s.complete = true;
        break;
    }
    filled += n;
    s.received += static_cast<std::int64_t>(n);
  }
  co_return filled;
}

asio::awaitable<std::string> Response::read_all(std::size_t limit) {
  auto too_long = [&] {
    return core::Error(core::ErrorKind::bad_input,
                       "answer from " + state_->url.authority() + " is larger than " + std::to_string(limit) + " bytes",
                       context_of(state_->url));
  };
  if (state_->content_length && *state_->content_length > static_cast<std::int64_t>(limit)) throw too_long();
  std::string out;
  out.reserve(static_cast<std::size_t>(state_->content_length.value_or(0)));
  std::vector<std::byte> chunk(64 * 1024);
  while (std::size_t n = co_await read(chunk)) {
    if (out.size() + n > limit) throw too_long();
    out.append(reinterpret_cast<const char*>(chunk.data()), n);
  }
  co_return out;
}

HttpClient::HttpClient(asio::any_io_executor executor, HttpSettings settings)
    : pool_(std::make_shared<Pool>(std::move(executor), std::move(settings))) {}

HttpClient::~HttpClient() = default;

asio::awaitable<Response> HttpClient::send(const Request& request) {
  std::shared_ptr<Pool> pool = pool_;
  const Url& url = request.url;
  refuse_line_breaks(request, pool->settings.user_agent);
  const Proxy* proxy = pool->settings.proxies.for_url(url);
  // A plain http request goes to the proxy whole (absolute-form target,
  // RFC 9112 §3.2.2), as curl and Go send it: the proxy can then pool and
  // cache, and a tunnel would add nothing when nothing is encrypted.
  bool absolute_form = proxy != nullptr && url.scheme == "http";
  http::request<http::empty_body> req{http::string_to_verb(request.method), absolute_form ? url.string() : url.target,
                                      11};
  req.set(http::field::host, url.authority());
  req.set(http::field::user_agent, pool->settings.user_agent);
  if (absolute_form && !proxy->authorization.empty()) req.set(http::field::proxy_authorization, proxy->authorization);
  std::string key = pool_key(url, proxy);
  for (const auto& [name, value] : request.headers) req.insert(name, value);
  std::chrono::milliseconds stall = pool->settings.stall_timeout;

  while (true) {
    std::unique_ptr<Connection> conn = pool->take(key);
    bool reused = conn != nullptr;
    if (!conn) conn = co_await pool->connect(url, proxy, key);

    Parser parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (request.method == "HEAD") parser.skip(true);
    beast::error_code ec = co_await std::visit(
        [&](auto& stream) { return exchange_on(stream, conn->buffer, req, parser, stall); }, conn->stream);
    if (ec) {
      // A pooled connection the server closed between our check and our
      // request: not a failure of this request, take another connection.
      if (reused && !parser.got_some() && ec != beast::error::timeout) continue;
      if (std::optional<core::Error> refused = tls_refusal(url, ec)) throw *refused;
      throw transient(url, "request to", ec, stall);
    }

    auto state = std::make_unique<Response::State>();
    state->pool = pool;
    state->url = url;
    state->stall = stall;
    const auto& head = parser.get();
    state->status = head.result_int();
    for (const auto& field : head) state->headers.emplace_back(field.name_string(), field.value());
    state->keep_alive = parser.keep_alive();
    if (parser.is_done()) {
      state->framing = Response::State::Framing::none;
      state->complete = true;
    } else if (parser.chunked()) {
      state->framing = Response::State::Framing::chunked;
    } else if (auto length = parser.content_length()) {
      state->framing = Response::State::Framing::length;
      state->content_length = static_cast<std::int64_t>(*length);
      state->remaining = *state->content_length;
    } else {
      state->framing = Response::State::Framing::until_close;
      state->keep_alive = false;
    }
    if (request.method == "HEAD") {
      if (auto length = parser.content_length()) state->content_length = static_cast<std::int64_t>(*length);
    }
    state->conn = std::move(conn);
    co_return Response(std::move(state));
  }
}

}  // namespace gantry::registry::detail
