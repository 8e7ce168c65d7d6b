// net::WsClient on its own: URL parsing, deadlines, heartbeats, the bounded queue, close.
#include "wire/ws_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <thread>
#include <vector>

#include "tcp_proxy.h"
#include "test_workers.h"
#include "ws_client_harness.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using iii::net::parse_ws_url;
using iii::net::WsClient;
using iii::net::WsClientOptions;
using iii::test::ClientHarness;
using iii::test::EngineProcess;
using iii::test::wait_until;

TEST(WsUrl, ParsesHostPortAndTarget) {
  auto url = parse_ws_url("ws://localhost:49134");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "localhost");
  EXPECT_EQ(url->port, "49134");
  EXPECT_EQ(url->target, "/");
  url = parse_ws_url("ws://127.0.0.1:1/otel?x=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target, "/otel?x=1");
  url = parse_ws_url("ws://[::1]:5/");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(parse_ws_url("ws://example.com")->port, "80");
  EXPECT_FALSE(parse_ws_url("http://localhost:1"));
  EXPECT_FALSE(parse_ws_url("wss://localhost:1"));  // no TLS in this client
  EXPECT_FALSE(parse_ws_url("localhost:49134"));
  EXPECT_FALSE(parse_ws_url("ws://"));
}

TEST(WsClient, ExchangesTextFramesWithTheEngine) {
  EngineProcess engine;
  ClientHarness harness;
  auto client = harness.make({});
  EXPECT_TRUE(client->send(R"({"type":"ping"})"));  // queued before connecting, sent after open
  client->connect(engine.url());
  ASSERT_TRUE(harness.wait_open(5s));
  ASSERT_TRUE(wait_until([&] { return harness.messages().size() >= 2; }));
  auto messages = harness.messages();
  EXPECT_EQ(json::parse(messages[0]).at("type"), "workerregistered");  // always the first frame
  EXPECT_EQ(json::parse(messages[1]).at("type"), "pong");

  client->close();
  auto reason = harness.wait_closed(3s);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "");  // a close we asked for is not an error
  EXPECT_FALSE(client->send("{}"));
}

// Frames sent back to back while writes are in flight leave in batches: all of them must still
// reach a real server intact (it answers every ping frame with a pong frame).
TEST(WsClient, ManyFramesSentBackToBackAllArrive) {
  EngineProcess engine;
  ClientHarness harness;
  WsClientOptions options;
  options.max_queued_frames = 1u << 16;
  auto client = harness.make(options);
  client->connect(engine.url());
  ASSERT_TRUE(harness.wait_open(5s));
  constexpr std::size_t kFrames = 20000;
  std::vector<std::thread> senders;
  for (int t = 0; t < 2; ++t) {  // two threads: send() is thread-safe
    senders.emplace_back([&] {
      for (std::size_t i = 0; i < kFrames / 2; ++i) ASSERT_TRUE(client->send(R"({"type":"ping"})"));
    });
  }
  for (auto& sender : senders) sender.join();
  ASSERT_TRUE(wait_until([&] { return harness.messages().size() >= kFrames + 1; }, 20s))
      << harness.messages().size();
  auto messages = harness.messages();
  EXPECT_EQ(messages.size(), kFrames + 1);
  for (std::size_t i = 1; i < messages.size(); ++i) ASSERT_EQ(messages[i], R"({"type":"pong"})") << i;
  EXPECT_EQ(client->queued(), 0u);
  EXPECT_FALSE(harness.wait_closed(0ms));
}

TEST(WsClient, RefusedConnectionReportsTheError) {
  ClientHarness harness;
  auto client = harness.make({});
  client->connect("ws://127.0.0.1:" + std::to_string(iii::test::free_loopback_port()));
  auto reason = harness.wait_closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("cannot connect"), std::string::npos) << *reason;
}

TEST(WsClient, RefusedUpgradeReportsTheStatus) {
  EngineProcess engine;
  ClientHarness harness;
  auto client = harness.make({});
  client->connect(engine.url() + "/no-such-path");  // the engine answers 404 with a body
  auto reason = harness.wait_closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("answered 404 Not Found instead of 101"), std::string::npos) << *reason;
}

TEST(WsClient, HandshakeDeadlineAgainstASilentServer) {
  // A listening socket that never answers: TCP connects, the HTTP upgrade never completes.
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(silent, 4), 0);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length), 0);

  ClientHarness harness;
  WsClientOptions options;
  options.connect_timeout = 300ms;
  auto client = harness.make(options);
  auto started = std::chrono::steady_clock::now();
  client->connect("ws://127.0.0.1:" + std::to_string(ntohs(address.sin_port)));
  auto reason = harness.wait_closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("timed out"), std::string::npos) << *reason;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_FALSE(harness.wait_open(0ms));
  ::close(silent);
}

TEST(WsClient, PingsKeepAQuietConnectionAliveAndSilenceEndsIt) {
  EngineProcess engine;
  iii::test::TcpProxy proxy(engine.port());
  ClientHarness harness;
  WsClientOptions options;
  options.ping_interval = 50ms;
  options.idle_timeout = 600ms;
  auto client = harness.make(options);
  client->connect("ws://127.0.0.1:" + std::to_string(proxy.port()));
  ASSERT_TRUE(harness.wait_open(5s));

  // Only pongs arrive after workerregistered; they are enough to stay up well past idle_timeout.
  EXPECT_FALSE(harness.wait_closed(1200ms));

  proxy.freeze(true);  // nothing moves any more, as with a dead peer or a broken network
  auto frozen_at = std::chrono::steady_clock::now();
  auto reason = harness.wait_closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("no frame received"), std::string::npos) << *reason;
  EXPECT_LT(std::chrono::steady_clock::now() - frozen_at, 2s);
}

TEST(WsClient, QueueIsBounded) {
  ClientHarness harness;
  WsClientOptions options;
  options.max_queued_frames = 2;
  auto client = harness.make(options);
  EXPECT_TRUE(client->send("1"));
  EXPECT_TRUE(client->send("2"));
  EXPECT_FALSE(client->send("3"));
  EXPECT_EQ(client->queued(), 2u);
}

TEST(WsClient, InvalidUrlEndsTheClient) {
  ClientHarness harness;
  auto client = harness.make({});
  client->connect("http://127.0.0.1:1");
  auto reason = harness.wait_closed(2s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("invalid WebSocket URL"), std::string::npos) << *reason;
}

// The SDK over a connection that breaks while the engine stays up: it reconnects, replays its
// registrations, and is callable again.
TEST(SdkOverProxy, ReconnectsWhenTheConnectionIsCut) {
  EngineProcess engine;
  iii::test::TcpProxy proxy(engine.port());
  auto options = iii::test::test_options(engine, "cut-worker");
  options.url = "ws://127.0.0.1:" + std::to_string(proxy.port());
  iii::Worker worker(options);
  ASSERT_TRUE(worker.wait_connected(5s));
  worker.register_function("cut::echo", [](json::value p) -> json::value { return p; });
  auto other = iii::test::connected_worker(engine, "other");
  ASSERT_TRUE(iii::test::wait_function_visible(*other, "cut::echo"));
  std::string first_id = worker.worker_id();

  proxy.cut();
  ASSERT_TRUE(wait_until([&] { return worker.connected() && worker.worker_id() != first_id; }, 10s));
  EXPECT_EQ(proxy.connections_accepted(), 2u);
  ASSERT_TRUE(wait_until([&] {
    try {
      return other->trigger("cut::echo", {{"n", 7}}).at("n") == 7;
    } catch (const iii::InvocationError&) {
      return false;
    }
  }));
}

}  // namespace
