// registry/detail/auth.cpp with the transport and session around it:
// Basic and Bearer challenges, the token flow and its cache, and
// credentials that never follow a redirect to another host.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "client_fixture.hpp"
#include "core/reference.hpp"
#include "registry/client.hpp"
#include "registry/detail/base64.hpp"

namespace gantry::registry {
namespace {

using namespace testing;

const std::string kUser = "gantry";
const std::string kPassword = "s3cret:with:colons";

std::string basic(const std::string& user, const std::string& password) {
  return "Basic " + detail::base64_encode(user + ":" + password);
}

// A docker config.json in a temporary directory; with no host, no credentials
// at all (so the machine's own ~/.docker/config.json is never read).
class AuthFile {
 public:
  explicit AuthFile(const std::string& host = {}, const std::string& password = kPassword) {
    char pattern[] = "/tmp/gantry-auth-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    std::string auths = host.empty() ? "{}"
                                     : R"({")" + host + R"(": {"auth": ")" +
                                           detail::base64_encode(kUser + ":" + password) + R"("}})";
    std::ofstream(path()) << R"({"auths": )" << auths << "}";
  }
  ~AuthFile() { std::filesystem::remove_all(dir_); }
  [[nodiscard]] std::string path() const { return (dir_ / "config.json").string(); }

 private:
  std::filesystem::path dir_;
};

std::string digest_in(const std::string& target) {
  std::string last = target.substr(target.rfind('/') + 1);
  return last.substr(0, last.find('?'));
}

// A registry that wants `expected` in Authorization (on /v2/ and blobs) and
// challenges with `challenge` otherwise; blob GETs are answered by `blob`.
ScriptedServer::Handler protected_registry(std::function<std::string()> expected, std::string challenge,
                                           std::function<bool(const HttpRequest&, Exchange&)> blob) {
  return [=](Exchange& exchange, ScriptedServer& server) {
    while (std::optional<HttpRequest> request = server.next(exchange)) {
      if (request->header("authorization") != expected()) {
        std::string body = R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})";
        if (!exchange.send(http_response(401, {{"WWW-Authenticate", challenge}}, body))) return;
        continue;
      }
      if (request->target == "/v2/") {
        if (!exchange.send(http_response(200, {}, "{}"))) return;
        continue;
      }
      if (!blob(*request, exchange)) return;
    }
  };
}

TEST(Auth, BasicCredentialsGoToTheRegistryButNotToWhereItRedirects) {
  std::string blob = random_bytes(50000, 31);
  std::map<std::string, std::string> served{{core::digest_of(blob).string(), blob}};
  ScriptedServer store(registry_handler([&](const HttpRequest& r, Exchange& ex) {
    return ex.send(http_response(200, {}, served.at(digest_in(r.target))));
  }));
  ScriptedServer registry(protected_registry([] { return basic(kUser, kPassword); }, R"(Basic realm="Registry")",
                                             [&](const HttpRequest& r, Exchange& ex) {
                                               std::string location = "http://" + store.host() + "/bucket/" +
                                                                      digest_in(r.target) + "?signature=abc";
                                               return ex.send(http_response(307, {{"Location", location}}, ""));
                                             }));
  AuthFile auth(registry.host());
  Options options = test_options();
  options.auth_file = auth.path();
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};

  client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);

  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
  auto at_registry = registry.requests_to("/v2/app/blobs/");
  ASSERT_EQ(at_registry.size(), 1u);
  EXPECT_EQ(at_registry[0].header("authorization"), basic(kUser, kPassword));
  auto at_store = store.requests_to("/bucket/");
  ASSERT_EQ(at_store.size(), 1u);
  EXPECT_FALSE(at_store[0].has("authorization"));
  EXPECT_EQ(at_store[0].target, "/bucket/" + core::digest_of(blob).string() + "?signature=abc");
}

TEST(Auth, WrongOrMissingBasicCredentialsSayWhich) {
  std::string blob = random_bytes(100, 32);
  ScriptedServer registry(protected_registry([] { return basic(kUser, kPassword); }, R"(Basic realm="Registry")",
                                             [&](const HttpRequest&, Exchange&) { return false; }));
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  AuthFile wrong(registry.host(), "not-the-password");
  AuthFile none;
  for (const AuthFile* file : {&wrong, &none}) {
    Options options = test_options();
    options.auth_file = file->path();
    Client client(options);
    MemorySinkFactory sinks;
    try {
      client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);
      FAIL();
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::auth);
      std::string expected = file == &wrong ? "401 Unauthorized: wrong credentials"
                                            : "401 Unauthorized: authentication required, no credentials";
      EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
    }
  }
  // Each attempt: the /v2/ ping and one blob request; a refused password is not retried.
  EXPECT_EQ(registry.requests_to("/v2/app/blobs/").size(), 2u);
}

// A token server for the Bearer flow: checks service and scope, and (when
// `password` is set) Basic credentials; issues tok-1, tok-2, ...
class TokenServer {
 public:
  explicit TokenServer(std::optional<std::string> password = std::nullopt)
      : server_([this, password](Exchange& exchange, ScriptedServer& server) {
          while (std::optional<HttpRequest> request = server.next(exchange)) {
            bool scope_ok = request->target == "/token?service=registry.test&scope=repository%3Aapp%3Apull";
            bool auth_ok = !password || request->header("authorization") == basic(kUser, *password);
            std::string answer =
                !auth_ok    ? http_response(401, {}, "")
                : !scope_ok ? http_response(403, {}, "")
                            : http_response(200, {{"Content-Type", "application/json"}},
                                            R"({"token":"tok-)" + std::to_string(++issued_) + R"(","expires_in":300})");
            if (!exchange.send(answer)) return;
          }
        }) {}
  [[nodiscard]] std::string challenge() const {
    return R"(Bearer realm="http://)" + server_.host() + R"(/token",service="registry.test")";
  }
  [[nodiscard]] int issued() const { return issued_; }
  [[nodiscard]] const ScriptedServer& server() const { return server_; }

 private:
  std::atomic<int> issued_{0};
  ScriptedServer server_;
};

TEST(Auth, BearerTokensAreFetchedOncePerScopeAndReused) {
  std::vector<std::string> blobs = {random_bytes(1000, 33), random_bytes(2000, 34), random_bytes(3000, 35)};
  std::map<std::string, std::string> served;
  for (const std::string& b : blobs) served[core::digest_of(b).string()] = b;
  TokenServer tokens;
  ScriptedServer registry(protected_registry([] { return std::string("Bearer tok-1"); }, tokens.challenge(),
                                             [&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  AuthFile none;
  Options options = test_options();
  options.auth_file = none.path();
  options.jobs = 3;
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blobs[0]), layer_of(blobs[1]), layer_of(blobs[2])};

  client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);

  for (const std::string& b : blobs) EXPECT_EQ(sinks.record(core::digest_of(b))->bytes, b);
  EXPECT_EQ(tokens.issued(), 1);  // three concurrent downloads, one token
  auto token_requests = tokens.server().requests();
  ASSERT_EQ(token_requests.size(), 1u);
  EXPECT_FALSE(token_requests[0].has("authorization"));  // anonymous
  for (const HttpRequest& r : registry.requests_to("/v2/app/blobs/")) EXPECT_EQ(r.header("authorization"), "Bearer tok-1");
}

TEST(Auth, CredentialsAreSentToTheRealmNotTheRegistry) {
  std::string blob = random_bytes(1000, 36);
  std::map<std::string, std::string> served{{core::digest_of(blob).string(), blob}};
  TokenServer tokens(kPassword);
  ScriptedServer registry(protected_registry([] { return std::string("Bearer tok-1"); }, tokens.challenge(),
                                             [&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  AuthFile auth(registry.host());
  Options options = test_options();
  options.auth_file = auth.path();
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);
  EXPECT_EQ(tokens.server().requests().at(0).header("authorization"), basic(kUser, kPassword));
  for (const HttpRequest& r : registry.requests()) EXPECT_NE(r.header("authorization"), basic(kUser, kPassword));
}

TEST(Auth, WrongCredentialsAtTheRealmAreAnAuthError) {
  std::string blob = random_bytes(1000, 37);
  TokenServer tokens(kPassword);
  ScriptedServer registry(protected_registry([] { return std::string("Bearer tok-1"); }, tokens.challenge(),
                                             [&](const HttpRequest&, Exchange&) { return false; }));
  AuthFile wrong(registry.host(), "nope");
  Options options = test_options();
  options.auth_file = wrong.path();
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::auth);
    EXPECT_EQ(std::string(e.what()).rfind("401 Unauthorized: wrong credentials", 0), 0u) << e.what();
  }
}

TEST(Auth, ARejectedTokenIsReplacedOnce) {
  std::string blob = random_bytes(1000, 38);
  std::map<std::string, std::string> served{{core::digest_of(blob).string(), blob}};
  TokenServer tokens;
  // The registry takes only the newest token: tok-1 "expires" at once.
  ScriptedServer registry(protected_registry([&] { return "Bearer tok-" + std::to_string(std::max(2, tokens.issued())); },
                                             tokens.challenge(),
                                             [&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  AuthFile none;
  Options options = test_options();
  options.auth_file = none.path();
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);
  EXPECT_EQ(tokens.issued(), 2);
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Auth, RequestsRefusedTogetherRefreshTheTokenOnce) {
  std::vector<std::string> blobs;
  std::map<std::string, std::string> served;
  for (unsigned seed = 40; seed < 44; ++seed) {
    blobs.push_back(random_bytes(1000, seed));
    served[core::digest_of(blobs.back()).string()] = blobs.back();
  }
  TokenServer tokens;
  // tok-1 is revoked. The registry holds the four downloads' requests until
  // all of them carry it, refuses one at once and the others only once the
  // refreshed token is in use: their 401s arrive after the refresh, as
  // they do from a registry that answers at different speeds.
  std::mutex mutex;
  std::condition_variable changed;
  int refused = 0;
  bool first_refused = false;
  bool refreshed = false;
  auto wait = [&](std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready) {
    changed.wait_for(lock, std::chrono::seconds(10), ready);  // bounded: a failure, not a hang
  };
  std::string unauthorized =
      http_response(401, {{"WWW-Authenticate", tokens.challenge()}},
                    R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})");
  ScriptedServer registry([&](Exchange& exchange, ScriptedServer& server) {
    while (std::optional<HttpRequest> request = server.next(exchange)) {
      std::string authorization = request->header("authorization");
      if (authorization.empty()) {  // the /v2/ ping learns the challenge
        if (!exchange.send(unauthorized)) return;
        continue;
      }
      if (authorization == "Bearer tok-1") {
        std::unique_lock lock(mutex);
        ++refused;
        changed.notify_all();
        wait(lock, [&] { return refused >= 4; });
        if (first_refused) wait(lock, [&] { return refreshed; });
        first_refused = true;
        lock.unlock();
        if (!exchange.send(unauthorized)) return;
        continue;
      }
      {
        std::lock_guard lock(mutex);
        refreshed = true;
      }
      changed.notify_all();
      if (!serve_blob(*request, exchange, served)) return;
    }
  });
  AuthFile none;
  Options options = test_options();
  options.auth_file = none.path();
  options.jobs = 4;
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers;
  for (const std::string& b : blobs) layers.push_back(layer_of(b));

  client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);

  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(refused, 4);
  }
  EXPECT_EQ(tokens.issued(), 2);  // the first token, and one refresh for four refusals
  for (const std::string& b : blobs) EXPECT_EQ(sinks.record(core::digest_of(b))->bytes, b);
}

TEST(Auth, ATokenTheRegistryNeverTakesEndsInAnAuthError) {
  std::string blob = random_bytes(1000, 39);
  TokenServer tokens;
  ScriptedServer registry(protected_registry([] { return std::string("Bearer never"); }, tokens.challenge(),
                                             [&](const HttpRequest&, Exchange&) { return false; }));
  AuthFile none;
  Options options = test_options();
  options.auth_file = none.path();
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::auth);
  }
  EXPECT_EQ(tokens.issued(), 2);  // one refresh, then give up
}

// Header injection (CWE-113): nothing the token server or the registry
// sends may add lines to a request. Each case fails with one line naming
// the registry, and no request carrying an injected header line is made.
void expect_injection_refused(const ScriptedServer& registry, const ScriptedServer& tokens, core::ErrorKind kind,
                              const std::string& names) {
  std::string blob = random_bytes(100, 45);
  AuthFile none;
  Options options = test_options();
  options.auth_file = none.path();
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(core::Reference::parse(registry.host() + "/app"), layers, sinks);
    ADD_FAILURE() << "fetched";
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), kind);
    std::string what = e.what();
    EXPECT_EQ(what.find_first_of("\r\n"), std::string::npos) << what;
    EXPECT_NE(what.find(registry.host()), std::string::npos) << what;
    EXPECT_NE(what.find(names), std::string::npos) << what;
  }
  for (const ScriptedServer* server : {&registry, &tokens}) {
    for (const HttpRequest& r : server->requests()) {
      EXPECT_FALSE(r.has("x-injected")) << r.target;
      EXPECT_EQ(r.header("authorization").find("tok"), std::string::npos) << r.header("authorization");
    }
  }
  EXPECT_TRUE(registry.requests_to("/v2/app/blobs/").empty());  // only the /v2/ ping was answered
}

TEST(Auth, ATokenWithALineBreakIsNeverSent) {
  ScriptedServer tokens([](Exchange& exchange, ScriptedServer& server) {
    while (server.next(exchange)) {
      std::string body = R"({"token":"tok\r\nX-Injected: 1","expires_in":300})";  // JSON escapes: a real CR LF
      if (!exchange.send(http_response(200, {{"Content-Type", "application/json"}}, body))) return;
    }
  });
  std::string challenge = R"(Bearer realm="http://)" + tokens.host() + R"(/token",service="registry.test")";
  ScriptedServer registry(protected_registry([] { return std::string("Bearer tok"); }, challenge,
                                             [](const HttpRequest&, Exchange&) { return false; }));
  expect_injection_refused(registry, tokens, core::ErrorKind::auth, "token server " + tokens.host());
  EXPECT_EQ(tokens.requests().size(), 1u);
}

TEST(Auth, ARealmWithALineBreakIsNeverAsked) {
  ScriptedServer tokens([](Exchange& exchange, ScriptedServer& server) {
    while (server.next(exchange)) {
      if (!exchange.send(http_response(200, {}, R"({"token":"tok"})"))) return;
    }
  });
  // An obs-fold (CRLF then a space) inside the quoted realm: the header
  // parser joins the lines with a space, which no URL may hold.
  std::string challenge =
      R"(Bearer realm="http://)" + tokens.host() + "/token\r\n X-Injected: 1\",service=\"registry.test\"";
  ScriptedServer registry(protected_registry([] { return std::string("Bearer tok"); }, challenge,
                                             [](const HttpRequest&, Exchange&) { return false; }));
  expect_injection_refused(registry, tokens, core::ErrorKind::auth, "invalid realm");
  EXPECT_TRUE(tokens.requests().empty());
}

}  // namespace
}  // namespace gantry::registry
