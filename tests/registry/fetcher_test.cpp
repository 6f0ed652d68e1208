// registry/detail/fetcher.cpp, through the whole client stack (Client::fetch_blobs ->
// fetcher -> session -> HTTP) against a scripted loopback server.
#include "registry/client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>

#include "client_fixture.hpp"
#include "core/reference.hpp"
#include "registry/client.hpp"

namespace gantry::registry {
namespace {

using namespace testing;
namespace progress = core::progress;

constexpr std::size_t kMiB = 1024 * 1024;

core::Reference repo_at(const ScriptedServer& server) { return core::Reference::parse(server.host() + "/app"); }

std::map<std::string, std::string> by_digest(const std::vector<std::string>& blobs) {
  std::map<std::string, std::string> out;
  for (const std::string& b : blobs) out[core::digest_of(b).string()] = b;
  return out;
}

core::ErrorKind kind_of_failure(const std::function<void()>& run) {
  try {
    run();
  } catch (const core::Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return core::ErrorKind::io;
}

TEST(Fetcher, BlobsArriveWholeOverOneKeptAliveConnection) {
  std::vector<std::string> blobs = {random_bytes(300 * 1024, 1), random_bytes(2 * kMiB + 17, 2)};
  auto served = by_digest(blobs);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  Options options = test_options();
  options.jobs = 1;
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blobs[0]), layer_of(blobs[1])};

  FetchStats stats = client.fetch_blobs(repo_at(server), layers, sinks);

  EXPECT_EQ(stats.blobs_fetched, 2u);
  EXPECT_EQ(stats.bytes_fetched, static_cast<std::int64_t>(blobs[0].size() + blobs[1].size()));
  for (const std::string& b : blobs) EXPECT_EQ(sinks.record(core::digest_of(b))->bytes, b);
  EXPECT_EQ(server.connections(), 1);  // ping and both blobs on one connection
}

TEST(Fetcher, AConnectionTheServerClosedWhileIdleIsReplacedQuietly) {
  std::string blob = random_bytes(1000, 23);
  auto served = by_digest({blob});
  // One answer per connection, and no "Connection: close" to warn the client.
  ScriptedServer server([&](Exchange& ex, ScriptedServer& self) {
    std::optional<HttpRequest> request = self.next(ex);
    if (!request) return;
    if (request->target == "/v2/") {
      ex.send(http_response(200, {}, "{}"));
    } else {
      serve_blob(*request, ex, served);
    }
  });
  EventLog events;
  Client client(test_options(), &events);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
  EXPECT_TRUE(events.all<progress::Retry>().empty());
  EXPECT_EQ(server.connections(), 2);
}

TEST(Fetcher, ChunkedBodiesAreDecoded) {
  std::string blob = random_bytes(kMiB + 333, 3);
  ScriptedServer server(registry_handler([&](const HttpRequest&, Exchange& ex) {
    std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t at = 0, piece = 1; at < blob.size(); at += piece, piece = piece * 3 + 7) {
      std::string part = blob.substr(at, piece);
      char size[32];
      std::snprintf(size, sizeof size, "%zx;ext=1\r\n", part.size());
      wire += size + part + "\r\n";
    }
    wire += "0\r\nX-Trailer: t\r\n\r\n";
    return ex.send(wire);
  }));
  Client client(test_options());
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, ACutDownloadResumesWithRangeWithoutFetchingTheStartAgain) {
  std::string blob = random_bytes(3 * kMiB, 4);
  std::atomic<int> gets{0};
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) {
    if (++gets == 1) {
      // Announce the whole blob, send the first MiB, then drop the connection.
      std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(blob.size()) + "\r\n\r\n";
      ex.send(head + blob.substr(0, kMiB));
      return false;
    }
    return serve_blob(r, ex, by_digest({blob}));
  }));
  EventLog events;
  Client client(test_options(), &events);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};

  FetchStats stats = client.fetch_blobs(repo_at(server), layers, sinks);

  auto blob_requests = server.requests_to("/v2/app/blobs/");
  ASSERT_EQ(blob_requests.size(), 2u);
  EXPECT_FALSE(blob_requests[0].has("range"));
  EXPECT_EQ(blob_requests[1].header("range"), "bytes=1048576-");
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
  EXPECT_EQ(stats.bytes_fetched, static_cast<std::int64_t>(blob.size()));  // each byte crossed once
  auto retries = events.all<progress::Retry>();
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_NE(retries[0].reason.find("after 1048576 of 3145728 body bytes"), std::string::npos) << retries[0].reason;
}

TEST(Fetcher, AnEarlierPartialIsResumed) {
  std::string blob = random_bytes(kMiB, 5);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  EventLog events;
  Client client(test_options(), &events);
  MemorySinkFactory sinks;
  sinks.preload(core::digest_of(blob), blob.substr(0, 1000));
  std::vector<core::Descriptor> layers = {layer_of(blob)};

  FetchStats stats = client.fetch_blobs(repo_at(server), layers, sinks);

  EXPECT_EQ(server.requests_to("/v2/app/blobs/").at(0).header("range"), "bytes=1000-");
  EXPECT_EQ(stats.bytes_fetched, static_cast<std::int64_t>(blob.size() - 1000));
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
  auto started = events.all<progress::BlobStarted>();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].resumed_from, 1000);
}

TEST(Fetcher, AServerIgnoringRangeRestartsTheSink) {
  std::string blob = random_bytes(kMiB, 6);
  ScriptedServer server(registry_handler([&](const HttpRequest&, Exchange& ex) {
    return ex.send(http_response(200, {}, blob));  // Range ignored: the whole blob
  }));
  Client client(test_options());
  MemorySinkFactory sinks;
  sinks.preload(core::digest_of(blob), blob.substr(0, 1000));
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  auto record = sinks.record(core::digest_of(blob));
  EXPECT_EQ(record->restarts, 1);
  EXPECT_EQ(record->bytes, blob);
}

TEST(Fetcher, AForeignContentRangeStartsTheBlobOver) {
  std::string blob = random_bytes(kMiB, 7);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) {
    if (r.has("range")) {  // answers a resume with the wrong bytes
      return ex.send(http_response(206, {{"Content-Range", "bytes 0-99/" + std::to_string(blob.size())}},
                                   blob.substr(0, 100)));
    }
    return ex.send(http_response(200, {}, blob));
  }));
  Client client(test_options());
  MemorySinkFactory sinks;
  sinks.preload(core::digest_of(blob), blob.substr(0, 5000));
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  auto requests = server.requests_to("/v2/app/blobs/");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("range"), "bytes=5000-");
  EXPECT_FALSE(requests[1].has("range"));
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, ServerErrorsAreRetriedWithBackoff) {
  std::string blob = random_bytes(1000, 8);
  std::atomic<int> gets{0};
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) {
    if (++gets <= 2) return ex.send(http_response(gets == 1 ? 500 : 502, {}, "oops"));
    return serve_blob(r, ex, by_digest({blob}));
  }));
  EventLog events;
  Client client(test_options(), &events);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  auto retries = events.all<progress::Retry>();
  ASSERT_EQ(retries.size(), 2u);
  EXPECT_EQ(retries[0].attempt, 1);
  EXPECT_EQ(retries[1].attempt, 2);
  EXPECT_NE(retries[0].reason.find("500"), std::string::npos);
  EXPECT_LE(retries[1].delay, std::chrono::milliseconds(4));
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, RetriesAreBounded) {
  std::string blob = random_bytes(1000, 9);
  ScriptedServer server(registry_handler([&](const HttpRequest&, Exchange& ex) {
    return ex.send(http_response(503, {}, R"({"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]})"));
  }));
  Client client(test_options());  // max_attempts 3
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(repo_at(server), layers, sinks);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::network);
    std::string what = e.what();
    EXPECT_NE(what.find("503"), std::string::npos) << what;
    EXPECT_NE(what.find("down for maintenance"), std::string::npos) << what;
    EXPECT_NE(what.find("after 3 attempts"), std::string::npos) << what;
    EXPECT_EQ(e.context().digest, core::digest_of(blob).string());
  }
  EXPECT_EQ(server.requests_to("/v2/app/blobs/").size(), 3u);
}

TEST(Fetcher, TooManyRequestsWaitsForRetryAfter) {
  std::string blob = random_bytes(1000, 10);
  std::atomic<int> gets{0};
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) {
    if (++gets == 1) return ex.send(http_response(429, {{"Retry-After", "1"}}, ""));
    return serve_blob(r, ex, by_digest({blob}));
  }));
  EventLog events;
  Client client(test_options(), &events);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  auto retries = events.all<progress::Retry>();
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_EQ(retries[0].delay, std::chrono::milliseconds(1000));  // the server's, not the backoff's
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, ARetryAfterBeyondTheLimitFailsAtOnce) {
  std::string blob = random_bytes(1000, 11);
  ScriptedServer server(registry_handler([&](const HttpRequest&, Exchange& ex) {
    return ex.send(http_response(429, {{"Retry-After", "3600"}}, ""));
  }));
  Client client(test_options());
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(repo_at(server), layers, sinks);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3600 s"), std::string::npos) << e.what();
  }
  EXPECT_EQ(server.requests_to("/v2/app/blobs/").size(), 1u);
}

TEST(Fetcher, AStalledConnectionIsDroppedAndTheBlobResumed) {
  std::string blob = random_bytes(200 * 1024, 12);
  std::atomic<int> gets{0};
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) {
    if (++gets == 1) {
      std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(blob.size()) + "\r\n\r\n";
      ex.send(head + blob.substr(0, 1000));
      ex.wait_for_close();  // then silence, until the client gives up on us
      return false;
    }
    return serve_blob(r, ex, by_digest({blob}));
  }));
  EventLog events;
  Options options = test_options();
  options.stall_timeout = std::chrono::milliseconds(300);
  Client client(options, &events);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  auto retries = events.all<progress::Retry>();
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_NE(retries[0].reason.find("stall timeout"), std::string::npos) << retries[0].reason;
  EXPECT_EQ(server.requests_to("/v2/app/blobs/").at(1).header("range"), "bytes=1000-");
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, AStopEndsTheDownloadWithAnInterruptedErrorNamingTheBlob) {
  // The stop comes while the body is under way; the bytes sent after it
  // bring the download to its next chunk at the latest, where it hears the
  // stop. The rest of the blob never comes, so only the stop can end the call.
  std::string blob = random_bytes(200 * 1024, 21);
  std::stop_source stop;
  ScriptedServer server(registry_handler([&](const HttpRequest&, Exchange& ex) {
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(blob.size()) + "\r\n\r\n";
    ex.send(head + blob.substr(0, 1000));
    stop.request_stop();
    ex.send(blob.substr(1000, 1000));
    ex.wait_for_close();
    return false;
  }));
  Options options = test_options();
  options.stop = stop.get_token();
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};

  try {
    client.fetch_blobs(repo_at(server), layers, sinks);
    ADD_FAILURE() << "no error";
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::io) << e.what();
    EXPECT_EQ(e.message(), "interrupted");
    EXPECT_EQ(e.context().digest, core::digest_of(blob).string());
  }
  std::shared_ptr<SinkRecord> record = sinks.record(core::digest_of(blob));
  ASSERT_NE(record, nullptr);
  EXPECT_FALSE(record->finished);  // never finished, so never promoted to a blob
}

TEST(Fetcher, MoreBytesThanTheDescriptorSaysIsAnError) {
  std::string blob = random_bytes(5000, 13);
  std::string longer = blob + "extra";
  ScriptedServer announced(registry_handler([&](const HttpRequest&, Exchange& ex) {
    return ex.send(http_response(200, {}, longer));
  }));
  ScriptedServer unannounced(registry_handler([&](const HttpRequest&, Exchange& ex) {
    ex.send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + longer);
    return false;
  }));
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  for (ScriptedServer* server : {&announced, &unannounced}) {
    Client client(test_options());
    MemorySinkFactory sinks;
    EXPECT_EQ(kind_of_failure([&] { client.fetch_blobs(repo_at(*server), layers, sinks); }), core::ErrorKind::bad_input);
    EXPECT_LE(sinks.record(core::digest_of(blob))->bytes.size(), blob.size());
    EXPECT_EQ(server->requests_to("/v2/app/blobs/").size(), 1u);  // not retried
  }
}

TEST(Fetcher, ACompleteAnswerOfAnotherLengthFailsAtOnceNamingBothSizes) {
  std::string blob = random_bytes(5000, 24);
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  for (const std::string& served : {blob.substr(0, 4321), blob + "extra"}) {
    ScriptedServer server(registry_handler([&](const HttpRequest&, Exchange& ex) {
      return ex.send(http_response(200, {}, served));  // every announced byte arrives
    }));
    Client client(test_options());
    MemorySinkFactory sinks;
    try {
      client.fetch_blobs(repo_at(server), layers, sinks);
      ADD_FAILURE() << "no error";
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::bad_input);
      std::string what = e.what();
      EXPECT_NE(what.find("5000"), std::string::npos) << what;
      EXPECT_NE(what.find(std::to_string(served.size())), std::string::npos) << what;
      EXPECT_NE(what.find(core::digest_of(blob).string()), std::string::npos) << what;
    }
    EXPECT_EQ(server.requests_to("/v2/app/blobs/").size(), 1u);  // it cannot get better: not retried
  }
}

TEST(Fetcher, WrongBytesAreADigestMismatchNamingTheBlob) {
  std::string blob = random_bytes(5000, 14);
  std::string wrong = random_bytes(5000, 15);
  ScriptedServer server(registry_handler([&](const HttpRequest&, Exchange& ex) {
    return ex.send(http_response(200, {}, wrong));
  }));
  Client client(test_options());
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(repo_at(server), layers, sinks);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::digest_mismatch);
    EXPECT_EQ(e.context().digest, core::digest_of(blob).string());
    EXPECT_EQ(e.context().repository, "app");
  }
  EXPECT_FALSE(sinks.record(core::digest_of(blob))->finished);
}

TEST(Fetcher, ASlowSinkPausesTheDownloadWithoutLosingBytes) {
  std::string blob = random_bytes(4 * kMiB, 16);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  Client client(test_options());
  MemorySinkFactory sinks(/*slow=*/true);
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  auto record = sinks.record(core::digest_of(blob));
  EXPECT_GT(record->pauses, 0);
  EXPECT_EQ(record->bytes, blob);
}

TEST(Fetcher, OneDownloadPerDigest) {
  std::string blob = random_bytes(kMiB, 17);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  Client client(test_options());
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob), layer_of(blob), layer_of(blob)};
  FetchStats stats = client.fetch_blobs(repo_at(server), layers, sinks);
  EXPECT_EQ(server.requests_to("/v2/app/blobs/").size(), 1u);
  EXPECT_EQ(stats.blobs_fetched, 1u);
  EXPECT_EQ(stats.blobs_cached, 2u);
}

TEST(Fetcher, ABlobBusyElsewhereIsWaitedFor) {
  std::string blob = random_bytes(1000, 18);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  Client client(test_options());
  MemorySinkFactory sinks;
  sinks.busy_for(2);
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  EXPECT_EQ(sinks.opens(), 3);
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, AMirrorLackingTheBlobFallsBackToTheOrigin) {
  std::string blob = random_bytes(1000, 19);
  std::map<std::string, std::string> none;
  ScriptedServer mirror(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, none); }));
  ScriptedServer origin(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  Options options = test_options();
  options.mirrors = {Mirror{.registry = origin.host(), .host = mirror.host()}};
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(origin), layers, sinks);
  EXPECT_EQ(mirror.requests_to("/v2/app/blobs/").size(), 1u);  // a 404 is not retried
  EXPECT_EQ(origin.requests_to("/v2/app/blobs/").size(), 1u);
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, AMirrorServingTheBlobSparesTheOrigin) {
  std::string blob = random_bytes(1000, 20);
  ScriptedServer mirror(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  ScriptedServer origin(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  Options options = test_options();
  options.mirrors = {Mirror{.registry = origin.host(), .host = mirror.host()}};
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(origin), layers, sinks);
  EXPECT_EQ(origin.requests().size(), 0u);
}

TEST(Fetcher, ARedirectThatWouldInjectIntoTheNextRequestIsAnErrorNamingTheRegistry) {
  std::string blob = random_bytes(1000, 30);
  // An obs-fold (CRLF then a space) in Location arrives as a space; plain
  // spaces would split the request line the same way.
  for (std::string location : {"/bucket/b\r\n X-Injected: 1", "/bucket/b HTTP/1.1\r\n X-Injected: 1"}) {
    ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) {
      if (r.target.starts_with("/bucket/")) return serve_blob(r, ex, by_digest({blob}));
      return ex.send(http_response(307, {{"Location", location}}, ""));
    }));
    Client client(test_options());
    MemorySinkFactory sinks;
    std::vector<core::Descriptor> layers = {layer_of(blob)};
    try {
      client.fetch_blobs(repo_at(server), layers, sinks);
      ADD_FAILURE() << "followed " << location;
    } catch (const core::Error& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::bad_input);
      std::string what = e.what();
      EXPECT_NE(what.find("redirect from " + server.host() + " to an unusable Location"), std::string::npos) << what;
      EXPECT_EQ(what.find_first_of("\r\n"), std::string::npos) << what;
    }
    for (const HttpRequest& r : server.requests()) EXPECT_FALSE(r.has("x-injected")) << r.target;
    EXPECT_TRUE(server.requests_to("/bucket/").empty());
  }
}

TEST(Fetcher, AMirrorOfAnotherRegistryIsNeverAsked) {
  std::string blob = random_bytes(1000, 29);
  ScriptedServer mirror(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  ScriptedServer origin(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  Options options = test_options();
  options.mirrors = {parse_mirror(mirror.host()), Mirror{.registry = "localhost:1", .host = mirror.host()}};
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(origin), layers, sinks);
  EXPECT_EQ(mirror.requests().size(), 0u);  // a docker.io mirror, and one of another registry
  EXPECT_EQ(origin.requests_to("/v2/app/blobs/").size(), 1u);
  EXPECT_EQ(sinks.record(core::digest_of(blob))->bytes, blob);
}

TEST(Fetcher, AMirrorServingWrongBytesIsPassedOverForTheOrigin) {
  std::string blob = random_bytes(5000, 25);
  std::string wrong = random_bytes(5000, 26);
  std::map<std::string, std::string> lies{{core::digest_of(blob).string(), wrong}};
  ScriptedServer mirror(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, lies); }));
  ScriptedServer origin(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  Options options = test_options();
  options.mirrors = {Mirror{.registry = origin.host(), .host = mirror.host()}};
  EventLog events;
  Client client(options, &events);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};

  FetchStats stats = client.fetch_blobs(repo_at(origin), layers, sinks);

  auto record = sinks.record(core::digest_of(blob));
  EXPECT_EQ(record->bytes, blob);
  EXPECT_EQ(mirror.requests_to("/v2/app/blobs/").size(), 1u);
  auto from_origin = origin.requests_to("/v2/app/blobs/");
  ASSERT_EQ(from_origin.size(), 1u);
  EXPECT_FALSE(from_origin[0].has("range"));  // nothing the mirror sent is kept
  EXPECT_EQ(stats.blobs_fetched, 1u);
  auto retries = events.all<progress::Retry>();
  ASSERT_EQ(retries.size(), 2u);
  EXPECT_NE(retries[0].what.find(mirror.host()), std::string::npos) << retries[0].what;
  EXPECT_NE(retries[0].reason.find("mirror " + mirror.host()), std::string::npos) << retries[0].reason;
  EXPECT_NE(retries[0].reason.find(core::digest_of(blob).string()), std::string::npos) << retries[0].reason;
  // Then the mirror is given up for the origin, and that is said too.
  EXPECT_EQ(retries[1].reason.rfind("giving up mirror " + mirror.host(), 0), 0u) << retries[1].reason;
}

TEST(Fetcher, WrongBytesFromTheOriginStayAnErrorAfterAMirrorsWrongBytes) {
  std::string blob = random_bytes(5000, 27);
  std::map<std::string, std::string> lies{{core::digest_of(blob).string(), random_bytes(5000, 28)}};
  ScriptedServer mirror(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, lies); }));
  ScriptedServer origin(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, lies); }));
  Options options = test_options();
  options.mirrors = {Mirror{.registry = origin.host(), .host = mirror.host()}};
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(repo_at(origin), layers, sinks);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::digest_mismatch);
    EXPECT_EQ(e.context().digest, core::digest_of(blob).string());
    EXPECT_NE(std::string(e.what()).find("mirror " + mirror.host()), std::string::npos) << e.what();
  }
  EXPECT_EQ(mirror.requests_to("/v2/app/blobs/").size(), 1u);  // asked once, then passed over
  EXPECT_EQ(origin.requests_to("/v2/app/blobs/").size(), 1u);
  EXPECT_FALSE(sinks.record(core::digest_of(blob))->finished);
}

TEST(Fetcher, WhenEveryHostFailsEachErrorIsReported) {
  std::string blob = random_bytes(1000, 21);
  std::map<std::string, std::string> none;
  ScriptedServer mirror(registry_handler([&](const HttpRequest&, Exchange& ex) {
    return ex.send(http_response(500, {}, ""));
  }));
  ScriptedServer origin(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, none); }));
  Options options = test_options();
  options.mirrors = {Mirror{.registry = origin.host(), .host = mirror.host()}};
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  try {
    client.fetch_blobs(repo_at(origin), layers, sinks);
    FAIL();
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::not_found);  // the origin's verdict
    std::string what = e.what();
    EXPECT_NE(what.find("blob unknown"), std::string::npos) << what;
    EXPECT_NE(what.find("mirror " + mirror.host() + ": 500"), std::string::npos) << what;
  }
  EXPECT_EQ(mirror.requests_to("/v2/app/blobs/").size(), 2u);  // mirrors get two attempts
}

// A sink that tells when its blob is complete.
class TellingSink final : public BlobSink {
 public:
  TellingSink(BlobSinkPtr inner, std::promise<void>& finished) : inner_(std::move(inner)), finished_(finished) {}
  [[nodiscard]] std::int64_t offset() const override { return inner_->offset(); }
  SinkFlow write(std::span<const std::byte> bytes) override { return inner_->write(bytes); }
  void on_ready(std::function<void()> wake) override { inner_->on_ready(std::move(wake)); }
  void restart() override { inner_->restart(); }
  void finish() override {
    inner_->finish();
    finished_.set_value();
  }

 private:
  BlobSinkPtr inner_;
  std::promise<void>& finished_;
};

// Bounded, so that a fetcher that never lets the awaited blob through fails
// the test instead of hanging it.
constexpr auto kWatchdog = std::chrono::seconds(20);

// Opens `slow` only after `first` has been downloaded and verified, as a
// store re-hashing a large partial file takes its time while another
// download is under way.
class SlowOpeningFactory final : public BlobSinkFactory {
 public:
  SlowOpeningFactory(core::Digest first, core::Digest slow) : first_(std::move(first)), slow_(std::move(slow)) {}

  Opened open(const core::Descriptor& blob) override {
    if (blob.digest == slow_) {
      other_flowed_ = first_finished_.get_future().wait_for(kWatchdog) == std::future_status::ready;
    }
    Opened opened = memory_.open(blob);
    if (blob.digest == first_) opened.sink = std::make_unique<TellingSink>(std::move(opened.sink), first_finished_);
    return opened;
  }
  [[nodiscard]] bool other_flowed() const { return other_flowed_; }
  MemorySinkFactory& memory() { return memory_; }

 private:
  core::Digest first_, slow_;
  MemorySinkFactory memory_;
  std::promise<void> first_finished_;
  std::atomic<bool> other_flowed_{false};
};

TEST(Fetcher, ASinkSlowToOpenDoesNotHoldUpTheOtherDownloads) {
  std::vector<std::string> blobs = {random_bytes(kMiB, 29), random_bytes(1000, 30)};
  auto served = by_digest(blobs);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  Options options = test_options();
  options.jobs = 2;
  Client client(options);
  SlowOpeningFactory sinks(core::digest_of(blobs[0]), core::digest_of(blobs[1]));
  std::vector<core::Descriptor> layers = {layer_of(blobs[0]), layer_of(blobs[1])};

  client.fetch_blobs(repo_at(server), layers, sinks);

  EXPECT_TRUE(sinks.other_flowed());
  for (const std::string& b : blobs) EXPECT_EQ(sinks.memory().record(core::digest_of(b))->bytes, b);
}

// The sink of `slow` blocks in its first write until `first` is complete,
// as a write to a slow disk would: writes run on the fetcher's writer
// threads, never on the I/O thread every download shares.
class SlowWritingFactory final : public BlobSinkFactory {
 public:
  SlowWritingFactory(core::Digest first, core::Digest slow) : first_(std::move(first)), slow_(std::move(slow)) {}

  Opened open(const core::Descriptor& blob) override {
    Opened opened = memory_.open(blob);
    if (blob.digest == first_) opened.sink = std::make_unique<TellingSink>(std::move(opened.sink), first_finished_);
    if (blob.digest == slow_) opened.sink = std::make_unique<Blocking>(std::move(opened.sink), *this);
    return opened;
  }
  [[nodiscard]] bool other_flowed() const { return other_flowed_; }
  MemorySinkFactory& memory() { return memory_; }

 private:
  class Blocking final : public BlobSink {
   public:
    Blocking(BlobSinkPtr inner, SlowWritingFactory& factory) : inner_(std::move(inner)), factory_(factory) {}
    [[nodiscard]] std::int64_t offset() const override { return inner_->offset(); }
    SinkFlow write(std::span<const std::byte> bytes) override {
      if (!waited_) {
        waited_ = true;
        factory_.other_flowed_ =
            factory_.first_finished_.get_future().wait_for(kWatchdog) == std::future_status::ready;
      }
      return inner_->write(bytes);
    }
    void on_ready(std::function<void()> wake) override { inner_->on_ready(std::move(wake)); }
    void restart() override { inner_->restart(); }
    void finish() override { inner_->finish(); }

   private:
    BlobSinkPtr inner_;
    SlowWritingFactory& factory_;
    bool waited_ = false;
  };

  core::Digest first_, slow_;
  MemorySinkFactory memory_;
  std::promise<void> first_finished_;
  std::atomic<bool> other_flowed_{false};
};

TEST(Fetcher, ASinkSlowToWriteDoesNotHoldUpTheOtherDownloads) {
  std::vector<std::string> blobs = {random_bytes(3 * kMiB, 33), random_bytes(2 * kMiB, 34)};
  auto served = by_digest(blobs);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  Options options = test_options();
  options.jobs = 2;
  Client client(options);
  SlowWritingFactory sinks(core::digest_of(blobs[0]), core::digest_of(blobs[1]));
  std::vector<core::Descriptor> layers = {layer_of(blobs[0]), layer_of(blobs[1])};

  client.fetch_blobs(repo_at(server), layers, sinks);

  EXPECT_TRUE(sinks.other_flowed());
  for (const std::string& b : blobs) EXPECT_EQ(sinks.memory().record(core::digest_of(b))->bytes, b);
}

// The sink of `paused` is full from its first write until `awaited` is
// complete, as a layer's pipeline waits for the layer below it that
// another download brings.
class WaitingForAnotherBlobFactory final : public BlobSinkFactory {
 public:
  WaitingForAnotherBlobFactory(core::Digest paused, core::Digest awaited)
      : paused_(std::move(paused)), awaited_(std::move(awaited)) {}
  ~WaitingForAnotherBlobFactory() override {
    if (waker_.joinable()) waker_.join();
  }

  Opened open(const core::Descriptor& blob) override {
    Opened opened = memory_.open(blob);
    if (blob.digest == awaited_) opened.sink = std::make_unique<TellingSink>(std::move(opened.sink), awaited_finished_);
    if (blob.digest == paused_) opened.sink = std::make_unique<Paused>(std::move(opened.sink), *this);
    return opened;
  }
  // Whether the awaited blob was complete when the paused sink woke.
  [[nodiscard]] bool awaited_came_first() const { return awaited_came_first_; }
  MemorySinkFactory& memory() { return memory_; }

 private:
  class Paused final : public BlobSink {
   public:
    Paused(BlobSinkPtr inner, WaitingForAnotherBlobFactory& owner) : inner_(std::move(inner)), owner_(owner) {}
    [[nodiscard]] std::int64_t offset() const override { return inner_->offset(); }
    SinkFlow write(std::span<const std::byte> bytes) override {
      (void)inner_->write(bytes);
      return std::exchange(first_write_, false) ? SinkFlow::pause : SinkFlow::more;
    }
    void on_ready(std::function<void()> wake) override {
      owner_.waker_ = std::thread([this, wake = std::move(wake)] {
        owner_.awaited_came_first_ =
            owner_.awaited_finished_.get_future().wait_for(kWatchdog) == std::future_status::ready;
        wake();
      });
    }
    void restart() override { inner_->restart(); }
    void finish() override { inner_->finish(); }

   private:
    BlobSinkPtr inner_;
    WaitingForAnotherBlobFactory& owner_;
    bool first_write_ = true;
  };

  core::Digest paused_, awaited_;
  MemorySinkFactory memory_;
  std::promise<void> awaited_finished_;
  std::atomic<bool> awaited_came_first_{false};
  std::thread waker_;
};

TEST(Fetcher, ADownloadPausedByItsSinkGivesItsSlotToTheOneItWaitsFor) {
  std::vector<std::string> blobs = {random_bytes(2 * kMiB, 31), random_bytes(300 * 1024, 32)};
  auto served = by_digest(blobs);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  Options options = test_options();
  options.jobs = 1;
  Client client(options);
  WaitingForAnotherBlobFactory sinks(core::digest_of(blobs[0]), core::digest_of(blobs[1]));
  std::vector<core::Descriptor> layers = {layer_of(blobs[0]), layer_of(blobs[1])};

  FetchStats stats = client.fetch_blobs(repo_at(server), layers, sinks);

  EXPECT_TRUE(sinks.awaited_came_first());
  EXPECT_EQ(stats.blobs_fetched, 2u);
  for (const std::string& b : blobs) EXPECT_EQ(sinks.memory().record(core::digest_of(b))->bytes, b);
  // The paused download kept its connection: one per download, no retry.
  EXPECT_EQ(server.requests_to("/v2/app/blobs/").size(), 2u);
}

TEST(Fetcher, NoMoreDownloadsFromOneHostThanItsLimit) {
  std::vector<std::string> blobs;
  for (unsigned i = 0; i < 8; ++i) blobs.push_back(random_bytes(100 * 1024, 40 + i));
  auto served = by_digest(blobs);
  std::mutex mutex;
  std::condition_variable changed;
  int in_flight = 0;
  int most_in_flight = 0;
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) {
    {
      // Each answer waits a moment for more requests to come, so that a
      // client over its limit shows here.
      std::unique_lock lock(mutex);
      most_in_flight = std::max(most_in_flight, ++in_flight);
      changed.notify_all();
      changed.wait_for(lock, std::chrono::milliseconds(200), [&] { return in_flight > 2; });
    }
    bool kept = serve_blob(r, ex, served);
    std::lock_guard lock(mutex);
    --in_flight;
    return kept;
  }));
  Options options = test_options();
  options.jobs = 8;
  options.jobs_per_host = 2;
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers;
  for (const std::string& b : blobs) layers.push_back(layer_of(b));

  FetchStats stats = client.fetch_blobs(repo_at(server), layers, sinks);

  EXPECT_EQ(stats.blobs_fetched, blobs.size());
  for (const std::string& b : blobs) EXPECT_EQ(sinks.record(core::digest_of(b))->bytes, b);
  EXPECT_LE(most_in_flight, 2);
}

TEST(Fetcher, TheRateLimitHoldsOverAllDownloads) {
  std::vector<std::string> blobs = {random_bytes(kMiB, 50), random_bytes(kMiB, 51), random_bytes(kMiB, 52)};
  auto served = by_digest(blobs);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, served); }));
  Options options = test_options();
  options.jobs = 3;
  options.max_rate = 4 * kMiB;
  Client client(options);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blobs[0]), layer_of(blobs[1]), layer_of(blobs[2])};

  auto start = std::chrono::steady_clock::now();
  FetchStats stats = client.fetch_blobs(repo_at(server), layers, sinks);
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(stats.bytes_fetched, static_cast<std::int64_t>(3 * kMiB));
  for (const std::string& b : blobs) EXPECT_EQ(sinks.record(core::digest_of(b))->bytes, b);
  // Beyond the burst (a tenth of a second's worth) every byte waited for
  // its token: a lower bound only, the machine may always be slower.
  const double burst = static_cast<double>(options.max_rate) / 10;
  EXPECT_GE(elapsed.count(), (static_cast<double>(stats.bytes_fetched) - burst) / static_cast<double>(options.max_rate));
}

TEST(Fetcher, ProgressTellsTheFirstBytesAtOnceThenIsThrottled) {
  std::string blob = random_bytes(8 * kMiB, 22);
  ScriptedServer server(registry_handler([&](const HttpRequest& r, Exchange& ex) { return serve_blob(r, ex, by_digest({blob})); }));
  EventLog events;
  Options options = test_options();
  options.progress_interval = std::chrono::hours(1);
  Client client(options, &events);
  MemorySinkFactory sinks;
  std::vector<core::Descriptor> layers = {layer_of(blob)};
  client.fetch_blobs(repo_at(server), layers, sinks);
  const auto reports = events.all<progress::BlobProgress>();
  ASSERT_EQ(reports.size(), 1u);  // the first chunk's, and none per chunk after it
  EXPECT_GT(reports[0].bytes, 0);
  EXPECT_LE(reports[0].bytes, static_cast<std::int64_t>(kMiB));
  ASSERT_EQ(events.all<progress::BlobDone>().size(), 1u);
  EXPECT_EQ(events.all<progress::BlobDone>()[0].fetched, static_cast<std::int64_t>(blob.size()));
  EXPECT_EQ(events.all<progress::Done>().size(), 1u);
}

}  // namespace
}  // namespace gantry::registry
