// RedisSubscriber (store/redis_subscriber.h) against real redis-servers: messages of the channels
// it was asked for reach the handler, unsubscribed ones stop, and after the server goes away and
// comes back on the same port it connects and subscribes again by itself and reports the gap.
#include "store/redis_subscriber.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "redis_server.h"

namespace iii {
namespace {

using namespace std::chrono_literals;

struct Inbox {
  std::mutex mu;
  std::vector<std::string> got;  // "channel:message"
  void add(std::string_view channel, std::string_view message) {
    std::lock_guard lock(mu);
    got.push_back(std::string(channel) + ":" + std::string(message));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mu);
    return got;
  }
  bool wait_for_size(size_t n) {
    for (int i = 0; i < 300; ++i) {
      if (snapshot().size() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

TEST(RedisSubscriber, DeliversTheChannelsAskedFor) {
  testing::RedisServer& server = testing::RedisServer::shared();
  Inbox inbox;
  RedisSubscriber sub(server.endpoint(), [&](std::string_view c, std::string_view m) { inbox.add(c, m); });
  sub.subscribe("news");
  sub.subscribe("sports");
  ASSERT_TRUE(sub.wait_subscribed("news", 5s));
  ASSERT_TRUE(sub.wait_subscribed("sports", 5s));
  RedisPool pool(server.endpoint());
  EXPECT_EQ(pool.run({"PUBLISH", "news", R"({"n":1})"}).integer, 1);
  pool.run({"PUBLISH", "weather", "ignored"});
  pool.run({"PUBLISH", "sports", "goal"});
  ASSERT_TRUE(inbox.wait_for_size(2));
  EXPECT_EQ(inbox.snapshot(), (std::vector<std::string>{R"(news:{"n":1})", "sports:goal"}));

  sub.unsubscribe("news");
  // Until the UNSUBSCRIBE is through, probes may still arrive; then nobody listens any more.
  for (int i = 0; i < 100 && pool.run({"PUBLISH", "news", "probe"}).integer != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(pool.run({"PUBLISH", "news", "late"}).integer, 0);
  pool.run({"PUBLISH", "sports", "again"});
  auto has = [&](const std::string& m) {
    const auto got = inbox.snapshot();
    return std::find(got.begin(), got.end(), m) != got.end();
  };
  for (int i = 0; i < 300 && !has("sports:again"); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(has("sports:again"));
  EXPECT_FALSE(has("news:late"));
}

TEST(RedisSubscriber, SubscribesAgainAfterTheServerComesBack) {
  auto server = std::make_unique<testing::RedisServer>();
  const uint16_t port = server->port();
  const RedisEndpoint endpoint = server->endpoint();
  Inbox inbox;
  std::atomic<int> gaps{0};
  RedisSubscriber sub(
      endpoint, [&](std::string_view c, std::string_view m) { inbox.add(c, m); }, [&] { ++gaps; });
  sub.subscribe("news");
  ASSERT_TRUE(sub.wait_subscribed("news", 5s));
  EXPECT_EQ(gaps, 0);  // the first connection lost nothing
  server->stop();
  server.reset();
  std::this_thread::sleep_for(300ms);  // the subscriber notices and backs off
  server = std::make_unique<testing::RedisServer>(port);
  ASSERT_TRUE(sub.wait_subscribed("news", 10s));
  RedisPool pool(endpoint);
  EXPECT_EQ(pool.run({"PUBLISH", "news", "back"}).integer, 1);
  ASSERT_TRUE(inbox.wait_for_size(1));
  EXPECT_EQ(inbox.snapshot(), std::vector<std::string>{"news:back"});
  EXPECT_EQ(gaps, 1);  // told once that messages may have been lost in between
}

// A server that is not there at first: once connecting works, the owner hears of the gap (what
// was published before could not be heard).
TEST(RedisSubscriber, AFirstConnectionThatFailedIsAGapToo) {
  const uint16_t port = testing::RedisServer::free_port();
  std::atomic<int> gaps{0};
  RedisSubscriber sub(
      RedisEndpoint::parse("redis://127.0.0.1:" + std::to_string(port)), [](std::string_view, std::string_view) {},
      [&] { ++gaps; });
  sub.subscribe("news");
  EXPECT_FALSE(sub.wait_subscribed("news", 300ms));
  testing::RedisServer server(port);
  ASSERT_TRUE(sub.wait_subscribed("news", 10s));
  for (int i = 0; i < 100 && gaps == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(gaps, 1);
}

}  // namespace
}  // namespace iii
