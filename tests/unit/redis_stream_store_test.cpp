// What only the Redis stream store (open_redis_stream_store, store/kv_stream_store.h) does, against
// a real redis-server: the official engine's layout, names holding ':', groups another client
// wrote, two stores (two engines) sharing one server without losing an update, and the change
// feed (every write publishes its change in its own script, in order). The StreamStore contract
// itself is checked by stream_store_test.cpp, which runs on Redis too.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "redis_server.h"
#include "store/kv_stream_store.h"
#include "store/redis_subscriber.h"

namespace iii {
namespace {

using namespace std::chrono_literals;
using Values = std::vector<std::string>;
using Opt = std::optional<std::string>;

class RedisStreamStoreTest : public ::testing::Test {
 protected:
  RedisStreamStoreTest() { testing::RedisServer::shared().flush(); }
  static std::shared_ptr<RedisClient> pool() {
    return std::make_shared<RedisClient>(testing::RedisServer::shared().endpoint());
  }
  RedisPool raw{testing::RedisServer::shared().endpoint()};
};

Opt increment(const Opt& current) { return std::to_string((current ? std::stoi(*current) : 0) + 1); }

TEST_F(RedisStreamStoreTest, TwoStoresShareItemsInTheOfficialLayoutAndLoseNoUpdate) {
  const auto a = open_redis_stream_store(pool()), b = open_redis_stream_store(pool());
  a->set("todos", "inbox", "t1", R"({"title":"milk"})");
  EXPECT_EQ(b->get("todos", "inbox", "t1"), R"({"title":"milk"})");
  EXPECT_EQ(b->list_streams(), Values{"todos"});
  EXPECT_EQ(b->list_groups("todos"), Values{"inbox"});
  // What the official engine (and redis-cli) reads: one hash per group, item id → JSON text.
  EXPECT_EQ(raw.run({"HGET", "stream:todos:inbox", "t1"}).str, R"({"title":"milk"})");
  EXPECT_FALSE(a->publishes_changes());  // no feed asked for

  constexpr int kEach = 150;
  auto bump = [](StreamStore& store) {
    for (int i = 0; i < kEach; ++i) store.update("todos", "inbox", "counter", increment);
  };
  std::thread ta([&] { bump(*a); }), tb([&] { bump(*b); });
  ta.join();
  tb.join();
  EXPECT_EQ(a->get("todos", "inbox", "counter"), std::to_string(2 * kEach));
  EXPECT_EQ(b->list("todos", "inbox"), (Values{R"({"title":"milk"})", std::to_string(2 * kEach)}));
  a->remove("todos", "inbox", "t1");
  b->remove("todos", "inbox", "counter");
  EXPECT_EQ(a->list_streams(), Values{});
  EXPECT_EQ(raw.run({"DBSIZE"}).integer, 1);  // only the sequence counter is left
}

// ':' may be in any name: the index, not the key, says which stream and group a hash is.
TEST_F(RedisStreamStoreTest, NamesHoldingColonsAreListedAsWritten) {
  const auto store = open_redis_stream_store(pool());
  store->set("app:todos", "user:1", "i", "1");
  store->set("app", "x", "i", "2");
  EXPECT_EQ(raw.run({"HGET", "stream:app:todos:user:1", "i"}).str, "1");
  EXPECT_EQ(store->list_streams(), (Values{"app", "app:todos"}));
  EXPECT_EQ(store->list_groups("app"), Values{"x"});  // not "todos:user:1"
  EXPECT_EQ(store->list_groups("app:todos"), Values{"user:1"});
}

// The official engine keeps no index: what it wrote is read, its groups split at the first ':'
// (as its own stream::list_groups does).
TEST_F(RedisStreamStoreTest, GroupsAnotherClientWroteAreReadToo) {
  const auto store = open_redis_stream_store(pool());
  store->set("ours", "g", "i", "1");
  raw.run({"HSET", "stream:theirs:room:1", "a", R"({"n":1})", "b", "2"});
  raw.run({"HSET", "stream:nocolon", "a", "1"});  // not stream:<stream>:<group>: skipped
  raw.run({"SET", "stream:theirs:not-a-hash", "x"});
  EXPECT_EQ(store->list_streams(), (Values{"ours", "theirs"}));
  EXPECT_EQ(store->list_groups("theirs"), Values{"room:1"});
  EXPECT_EQ(store->get("theirs", "room:1", "a"), R"({"n":1})");
  EXPECT_EQ(store->list("theirs", "room:1").size(), 2u);
  // An item another client added to one of our groups is listed after ours.
  raw.run({"HSET", "stream:ours:g", "extra", "3"});
  EXPECT_EQ(store->list("ours", "g"), (Values{"1", "3"}));
}

// Every write that changes an item publishes head + kind + mid + value + tail, in the write's
// script: in the order the writes happened, and nothing for a write that changed nothing.
TEST_F(RedisStreamStoreTest, EveryChangePublishesItsMessageInOrder) {
  std::mutex mu;
  Values got;
  RedisSubscriber sub(testing::RedisServer::shared().endpoint(), [&](std::string_view, std::string_view m) {
    std::lock_guard lock(mu);
    got.emplace_back(m);
  });
  sub.subscribe("test-events");
  ASSERT_TRUE(sub.wait_subscribed("test-events", 5s));
  StreamChangeFeed feed{"test-events", [](std::string_view s, std::string_view g, std::string_view i) {
                          return RedisChangeText{std::string(s) + "/" + std::string(g) + "/" + std::string(i) + " ", " ", "."};
                        }};
  const auto store = open_redis_stream_store(pool(), feed);
  EXPECT_TRUE(store->publishes_changes());
  store->set("s", "g", "a", "1");
  store->set("s", "g", "a", "2");
  store->update("s", "g", "b", increment);
  store->update("s", "g", "b", increment);
  store->update("s", "g", "b", [](const Opt&) { return Opt(); });  // leaves it alone: nothing
  store->remove("s", "g", "a");
  store->remove("s", "g", "a");  // nothing to remove: nothing
  store->set("s:x", "g:y", "c", "null");
  const Values expected = {"s/g/a create 1.", "s/g/a update 2.", "s/g/b create 1.", "s/g/b update 2.",
                           "s/g/a delete 2.", "s:x/g:y/c create null."};
  for (int i = 0; i < 300; ++i) {
    {
      std::lock_guard lock(mu);
      if (got.size() >= expected.size()) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(50ms);  // an extra message would show up by now
  std::lock_guard lock(mu);
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace iii
