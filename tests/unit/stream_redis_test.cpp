// The iii-stream redis adapter between engines (src/workers/stream/stream_redis.h): two stream
// services, each on its own Engine with the stream::* functions and a fake socket subscribed in
// its hub, share one real redis-server. A change made through either reaches the sockets of both
// once, in one order; a message the official engine would publish reaches them too; a lost
// subscriber connection closes the subscribed sockets so that their clients join again; calls
// fail fast while Redis is down. The client socket itself is tested by the node tests
// (tests/node/redis-streams.test.mjs).
#include "workers/stream/stream_redis.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <future>
#include <thread>

#include "core/json_text.h"
#include "engine/engine.h"
#include "fake_peer.h"
#include "redis_server.h"
#include "workers/stream/stream_service.h"

namespace iii {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// One engine with iii-stream on the redis adapter, and one socket subscribed to todos/inbox.
struct EngineSide {
  explicit EngineSide(const std::string& url) {
    add_stream_functions(*endpoint, service);
    engine.add_in_process_worker(endpoint);
    service->open(open_redis_backend(url, service));
    service->hub().subscribe(1, socket, "s1", "todos", "inbox", std::nullopt);
    service->hub().release(1, "s1", "todos", "inbox", std::nullopt);
  }
  ~EngineSide() { service->close(); }

  // Calls are answered from the Redis client's thread when Redis replies: wait for it (bounded).
  Outcome call(const std::string& function_id, const std::string& data) {
    auto answer = std::make_shared<std::promise<Outcome>>();
    engine.invoke(function_id, data, {}, [answer](Outcome o) { answer->set_value(std::move(o)); });
    std::future<Outcome> f = answer->get_future();
    if (f.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << function_id << " did not answer within 5 s";
      return Outcome::failure("no_answer", "");
    }
    return f.get();
  }

  Engine engine{EngineOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(500), 1000}};
  std::shared_ptr<StreamService> service = std::make_shared<StreamService>(engine, StreamConfig{});
  std::shared_ptr<InProcessWorker> endpoint = std::make_shared<InProcessWorker>(engine, "iii-stream");
  std::shared_ptr<FakePeer> socket = std::make_shared<FakePeer>();
};

// Waits until `peer` got `n` messages, then a little longer for a duplicate to show up.
std::vector<std::string> messages_once(FakePeer& peer, size_t n) {
  for (int i = 0; i < 500 && peer.count() < n; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(100ms);
  return peer.messages();
}

// "<id> <event type> <data>" of a change message, for comparing.
std::string summary(const std::string& message) {
  const auto v = json_text::parse(message);
  if (!v || !v->is_object()) return "not JSON: " + message;
  const json::object& o = v->get_object();
  const json::value& event = o.at("event");
  const std::string data = event.as_object().contains("data") ? json_text::serialize(event.at("data"))
                                                              : json_text::serialize(event.at("event"));
  return json_text::serialize(o.at("id")) + " " + std::string(event.at("type").as_string()) + " " + data;
}

TEST(StreamRedis, EveryChangeReachesTheSocketsOfBothEnginesOnceInOneOrder) {
  testing::RedisServer::shared().flush();
  const std::string url = testing::RedisServer::shared().url();
  EngineSide a(url), b(url);
  ASSERT_TRUE(a.call("stream::set", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1","data":{"n":1}})").ok());
  ASSERT_TRUE(b.call("stream::update", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1",)"
                                       R"("ops":[{"type":"increment","path":"n","by":1}]})").ok());
  ASSERT_TRUE(b.call("stream::set", R"({"stream_name":"todos","group_id":"other","item_id":"x","data":0})").ok());
  ASSERT_TRUE(a.call("stream::send", R"({"stream_name":"todos","group_id":"inbox","type":"ping","data":[1]})").ok());
  ASSERT_TRUE(b.call("stream::delete", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1"})").ok());
  ASSERT_TRUE(a.call("stream::delete", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1"})").ok());  // nothing
  const std::vector<std::string> expected = {R"("t1" create {"n":1})", R"("t1" update {"n":2})",
                                             R"(null event {"type":"ping","data":[1]})", R"("t1" delete {"n":2})"};
  for (EngineSide* side : {&a, &b}) {
    std::vector<std::string> got;
    for (const std::string& m : messages_once(*side->socket, expected.size())) got.push_back(summary(m));
    EXPECT_EQ(got, expected);
  }
  const auto first = json_text::parse(a.socket->messages().at(0));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->at("type"), "stream");
  EXPECT_EQ(first->at("streamName"), "todos");
  EXPECT_EQ(first->at("groupId"), "inbox");
  EXPECT_TRUE(first->at("timestamp").is_int64());
  // Read through the other engine, from the official layout.
  EXPECT_EQ(b.call("stream::get", R"({"stream_name":"todos","group_id":"other","item_id":"x"})").result, "0");
}

// The official engine publishes the same message on the same channel: its changes reach our
// sockets; anything else on the channel is ignored.
TEST(StreamRedis, MessagesFromOtherClientsOnTheChannelAreDelivered) {
  testing::RedisServer::shared().flush();
  EngineSide a(testing::RedisServer::shared().url());
  RedisPool raw(testing::RedisServer::shared().endpoint());
  raw.run({"PUBLISH", "stream::events", "not json"});
  raw.run({"PUBLISH", "stream::events", R"({"type":"stream","streamName":"todos"})"});
  const std::string official = R"({"type":"stream","timestamp":1,"streamName":"todos","groupId":"inbox","id":"t9",)"
                               R"("event":{"type":"update","data":{"by":"official"}}})";
  EXPECT_EQ(raw.run({"PUBLISH", "stream::events", official}).integer, 1);
  EXPECT_EQ(messages_once(*a.socket, 1), std::vector<std::string>{official});
}

TEST(StreamRedis, WhileRedisIsDownCallsFailFastAndSocketsAreClosedOnceItIsBack) {
  auto server = std::make_unique<testing::RedisServer>();
  const uint16_t port = server->port();
  EngineSide a(server->url());
  server.reset();  // killed
  const auto started = std::chrono::steady_clock::now();
  const Outcome failed = a.call("stream::get", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1"})");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error->code, "STREAM_GET_ERROR");
  EXPECT_NE(failed.error->message.find("redis 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << failed.error->message;
  const Outcome send = a.call("stream::send", R"({"stream_name":"todos","group_id":"inbox","type":"t","data":1})");
  ASSERT_FALSE(send.ok());
  EXPECT_EQ(send.error->code, "STREAM_SEND_ERROR");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(a.socket->closed(), 0);  // nothing lost yet that the socket would miss

  server = std::make_unique<testing::RedisServer>(port);
  // The subscriber is back: what was published meanwhile is lost, so the socket is closed (its
  // client joins again and gets a fresh sync).
  for (int i = 0; i < 500 && a.socket->closed() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(a.socket->closed(), 1012);
  EXPECT_TRUE(a.call("stream::set", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1","data":1})").ok());
}

}  // namespace
}  // namespace iii
