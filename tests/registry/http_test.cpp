// registry/detail/http.cpp: what it refuses to write, and TLS: the
// certificate must name the host or the address asked for, SNI carries
// host names only (RFC 6066 §3).
#include "registry/detail/http.hpp"

#include <gtest/gtest.h>

#include <exception>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "core/error.hpp"
#include "scripted_server.hpp"
#include "tls_server.hpp"

namespace gantry::registry::detail {
namespace {

using namespace gantry::registry::testing;

// The status of GET `url`, or the error it ended in.
struct Outcome {
  std::optional<unsigned> status;
  std::optional<core::Error> error;
};

Outcome get(const Url& url, const std::string& ca_file = {}, Headers headers = {},
            std::map<std::string, HostTls> host_tls = {}) {
  asio::io_context io;
  HttpClient http(io.get_executor(), HttpSettings{.ca_file = ca_file,
                                                  .host_tls = std::move(host_tls),
                                                  .connect_timeout = std::chrono::seconds(10),
                                                  .stall_timeout = std::chrono::seconds(10),
                                                  .user_agent = "gantry-test",
                                                  .proxies = {}});
  Request request{"GET", url, std::move(headers)};
  Outcome outcome;
  auto exchange = [&]() -> asio::awaitable<void> {
    Response response = co_await http.send(request);
    (void)co_await response.read_all(1024);
    outcome.status = response.status();
  };
  asio::co_spawn(io, exchange(), [&](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const core::Error& e) {
      outcome.error = e;
    }
  });
  io.run();
  return outcome;
}

TEST(Http, NoLineBreakOrNulIsEverWritten) {
  ScriptedServer server([](Exchange& exchange, ScriptedServer& s) {
    while (s.next(exchange)) {
      if (!exchange.send(http_response(200, {}, "{}"))) return;
    }
  });
  Url v2 = Url::parse("http://" + server.host() + "/v2/");
  for (const std::string& value : {std::string("Bearer tok\r\nX-Injected: 1"), std::string("a\rb"), std::string("a\nb"),
                                   std::string("a\0b", 3)}) {
    Outcome outcome = get(v2, {}, {{"Authorization", value}});
    ASSERT_TRUE(outcome.error) << "sent";
    EXPECT_EQ(outcome.error->kind(), core::ErrorKind::bad_input);
    EXPECT_NE(std::string(outcome.error->what()).find("refusing to send a request to " + server.host()),
              std::string::npos)
        << outcome.error->what();
  }
  EXPECT_EQ(server.connections(), 0);  // refused before a connection was made
  Url injected = v2;
  injected.target = "/v2/ HTTP/1.1\r\nX-Injected: 1\r\n";  // a target built around Url::parse
  EXPECT_TRUE(get(injected).error);
  EXPECT_EQ(server.connections(), 0);
  EXPECT_EQ(get(v2).status, 200u);  // and the server works
  for (const HttpRequest& r : server.requests()) EXPECT_FALSE(r.has("x-injected"));
}

TEST(Http, TlsToAnAddressVerifiesTheAddressAndSendsNoSni) {
  TlsServer server("IP:127.0.0.1");
  Outcome outcome = get(Url::parse("https://127.0.0.1:" + std::to_string(server.port()) + "/v2/"), server.ca_file());
  ASSERT_FALSE(outcome.error) << outcome.error->what();
  EXPECT_EQ(outcome.status, 200u);
  EXPECT_EQ(server.server_names(), std::vector<std::string>{""});
}

TEST(Http, TlsToAHostNameVerifiesTheNameAndSendsItAsSni) {
  TlsServer server("DNS:localhost");
  Outcome outcome = get(Url::parse("https://localhost:" + std::to_string(server.port()) + "/v2/"), server.ca_file());
  ASSERT_FALSE(outcome.error) << outcome.error->what();
  EXPECT_EQ(outcome.status, 200u);
  EXPECT_EQ(server.server_names(), std::vector<std::string>{"localhost"});
}

TEST(Http, AHostsOwnCaIsTrustedForThatOriginOnly) {
  TlsServer server("IP:127.0.0.1,DNS:localhost");
  std::string port = std::to_string(server.port());
  std::map<std::string, HostTls> own{
      {"https://127.0.0.1:" + port, HostTls{.ca_files = {server.ca_file()}, .client = {}}}};
  Outcome trusted = get(Url::parse("https://127.0.0.1:" + port + "/v2/"), {}, {}, own);
  ASSERT_FALSE(trusted.error) << trusted.error->what();
  EXPECT_EQ(trusted.status, 200u);

  Outcome elsewhere = get(Url::parse("https://localhost:" + port + "/v2/"), {}, {}, own);  // same server, other origin
  ASSERT_TRUE(elsewhere.error);
  EXPECT_NE(std::string(elsewhere.error->what()).find("certificate verify failed"), std::string::npos)
      << elsewhere.error->what();
}

TEST(Http, AClientCertificateThatCannotBeLoadedIsOneErrorNamingTheFile) {
  TlsServer server("IP:127.0.0.1");
  std::string port = std::to_string(server.port());
  // The server's certificate with no key in its file: the key step fails.
  ClientCertificate unusable{.cert_file = server.ca_file(), .key_file = server.ca_file()};
  std::map<std::string, HostTls> own{{"https://127.0.0.1:" + port, HostTls{.ca_files = {}, .client = unusable}}};
  Outcome outcome = get(Url::parse("https://127.0.0.1:" + port + "/v2/"), server.ca_file(), {}, own);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->kind(), core::ErrorKind::bad_input);
  EXPECT_EQ(outcome.error->context().path, server.ca_file());
  EXPECT_NE(std::string(outcome.error->what()).find("cannot load the client key"), std::string::npos)
      << outcome.error->what();
}

TEST(Http, TlsRefusesACertificateForAnotherHost) {
  // Signed by a trusted CA, but for someone else: the chain alone is not enough.
  for (auto [san, host] : {std::pair{"IP:127.0.0.2", "127.0.0.1"}, std::pair{"DNS:other.example", "127.0.0.1"},
                           std::pair{"DNS:other.example", "localhost"}, std::pair{"IP:127.0.0.1", "localhost"}}) {
    TlsServer server(san);
    std::string authority = std::string(host) + ":" + std::to_string(server.port());
    Outcome outcome = get(Url::parse("https://" + authority + "/v2/"), server.ca_file());
    ASSERT_TRUE(outcome.error) << san << " accepted for " << host;
    EXPECT_EQ(outcome.error->kind(), core::ErrorKind::network);
    std::string what = outcome.error->what();
    EXPECT_NE(what.find("TLS handshake with " + authority + ": certificate verify failed"), std::string::npos) << what;
    EXPECT_NE(what.find("mismatch"), std::string::npos) << what;
    EXPECT_TRUE(server.server_names().empty());  // no request was sent
  }
}

}  // namespace
}  // namespace gantry::registry::detail
