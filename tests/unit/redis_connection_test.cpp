// The Redis client (store/redis_connection.h) against a real redis-server, and what only the Redis
// store shows: two stores (two engines) on one server share data, and their concurrent updates of
// one key lose nothing; a set's indexing step never indexes a key deleted meanwhile. The KvStore
// contract itself is kv_store_test.cpp's conformance suite.
#include "store/redis_connection.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <future>
#include <thread>

#include "redis_server.h"
#include "store/redis_client.h"
#include "store/redis_kv_store.h"

namespace iii {
namespace {

using namespace std::chrono_literals;

TEST(RedisEndpoint, ParsesUrls) {
  RedisEndpoint e = RedisEndpoint::parse("redis://localhost");
  EXPECT_EQ(e.host, "localhost");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 0u);
  EXPECT_TRUE(e.password.empty());
  e = RedisEndpoint::parse("redis://:s3cret@10.1.2.3:7000/2");
  EXPECT_EQ(e.host, "10.1.2.3");
  EXPECT_EQ(e.port, 7000);
  EXPECT_EQ(e.password, "s3cret");
  EXPECT_TRUE(e.user.empty());
  EXPECT_EQ(e.db, 2u);
  e = RedisEndpoint::parse("redis://app:pw@h:1/");
  EXPECT_EQ(e.user, "app");
  EXPECT_EQ(e.password, "pw");
  EXPECT_EQ(RedisEndpoint::parse("redis://token@h").password, "token");
  try {  // errors do not repeat a password
    RedisEndpoint::parse("redis://app:s3cret@h/x");
    ADD_FAILURE() << "accepted";
  } catch (const RedisError& err) {
    EXPECT_EQ(std::string(err.what()).find("s3cret"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("redis://***@h/x"), std::string::npos) << err.what();
  }
  for (const char* bad : {"localhost:6379", "http://h", "redis://", "redis://h/db", "redis://h:0", "redis://h/99999"}) {
    try {
      RedisEndpoint::parse(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const RedisError& err) {
      EXPECT_NE(std::string(err.what()).find(bad), std::string::npos) << err.what();
    }
  }
}

TEST(RedisResp, EncodesCommandsAsArraysOfBulkStrings) {
  std::string out;
  append_resp_command(out, {"SET", "k", std::string_view("a\0\r\nb", 5)});
  const char expected[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n";
  EXPECT_EQ(out, std::string(expected, sizeof expected - 1));
}

TEST(RedisConnection, PipelinesRepliesInOrderAndIsBinarySafe) {
  testing::RedisServer::shared().flush();
  auto c = RedisConnection::open(testing::RedisServer::shared().endpoint(), 5s);
  const std::string binary("x\0y\r\n\xff", 6);
  const std::string big(1 << 20, 'b');
  const auto replies = c->pipeline({{"SET", "a", binary}, {"GET", "a"}, {"SET", "big", big}, {"GET", "big"},
                               {"GET", "missing"}, {"INCR", "n"}, {"RPUSH", "l", "1", "2"}, {"LRANGE", "l", "0", "-1"},
                               {"NOSUCHCOMMAND"}, {"PING"}});
  ASSERT_EQ(replies.size(), 10u);
  EXPECT_EQ(replies[0].type, RedisReply::Type::kStatus);
  EXPECT_EQ(replies[1].str, binary);
  EXPECT_EQ(replies[3].str.size(), big.size());
  EXPECT_TRUE(replies[4].is_nil());
  EXPECT_EQ(replies[5].integer, 1);
  ASSERT_EQ(replies[7].elements.size(), 2u);
  EXPECT_EQ(replies[7].elements[1].str, "2");
  EXPECT_TRUE(replies[8].is_error());  // an error reply is an answer: the connection goes on
  EXPECT_EQ(replies[9].str, "PONG");
  EXPECT_FALSE(c->broken());
}

TEST(RedisConnection, RefusedConnectionIsAClearError) {
  const std::string url = "redis://127.0.0.1:" + std::to_string(testing::RedisServer::free_port());
  try {
    RedisConnection::open(RedisEndpoint::parse(url), 1s);
    FAIL() << "connected";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
  }
}

TEST(RedisConnection, AServerThatDoesNotAnswerTimesOutAndBreaksTheConnection) {
  uint16_t port = 0;
  const int fd = testing::RedisServer::loopback_socket(true, port);
  auto c = RedisConnection::open(RedisEndpoint::parse("redis://127.0.0.1:" + std::to_string(port)), 300ms);
  const auto start = std::chrono::steady_clock::now();
  try {
    c->run({"PING"});
    FAIL() << "answered";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("timed out after 300 ms"), std::string::npos) << e.what();
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 3s);
  EXPECT_TRUE(c->broken());
  EXPECT_THROW(c->run({"PING"}), RedisError);
  ::close(fd);
}

TEST(RedisPool, ReusesItsConnections) {
  testing::RedisServer::shared().flush();
  RedisPool pool(testing::RedisServer::shared().endpoint(), 4);
  const std::string name = "pool-test-" + std::to_string(::getpid());
  pool.run({"CLIENT", "SETNAME", name});
  for (int i = 0; i < 20; ++i) pool.run({"INCR", "n"});
  EXPECT_EQ(pool.run({"GET", "n"}).str, "20");
  const std::string clients = pool.run({"CLIENT", "LIST"}).str;
  size_t named = 0;
  for (size_t at = clients.find(name); at != std::string::npos; at = clients.find(name, at + 1)) ++named;
  EXPECT_EQ(named, 1u);  // one connection did it all
}

TEST(RedisKvStore, TwoStoresOnOneServerShareDataAndLoseNoUpdate) {
  testing::RedisServer::shared().flush();
  const RedisEndpoint e = testing::RedisServer::shared().endpoint();
  const auto store_a = make_redis_kv_store(std::make_shared<RedisClient>(e), "state");
  const auto store_b = make_redis_kv_store(std::make_shared<RedisClient>(e), "state");
  KvStore &a = *store_a, &b = *store_b;
  a.set("s", "k", R"({"v":1})");
  EXPECT_EQ(b.get("s", "k"), R"({"v":1})");
  EXPECT_EQ(b.list_groups(), std::vector<std::string>{"s"});
  // The official engine's layout: one hash per scope, field = key, value = JSON text.
  RedisPool raw(e);
  EXPECT_EQ(raw.run({"HGET", "state:s", "k"}).str, R"({"v":1})");

  // A field another client wrote (no order index): listed, after the indexed ones.
  raw.run({"HSET", "state:s", "external", "true"});
  EXPECT_EQ(b.list("s"), (std::vector<std::string>{R"({"v":1})", "true"}));
  raw.run({"HDEL", "state:s", "external"});
  // A scope only another client wrote: listed too, read too.
  raw.run({"HSET", "state:theirs", "k", "1"});
  raw.run({"SET", "state:not-a-hash", "x"});
  EXPECT_EQ(b.list_groups(), (std::vector<std::string>{"s", "theirs"}));
  EXPECT_EQ(b.get("theirs", "k"), "1");
  raw.run({"DEL", "state:theirs", "state:not-a-hash"});

  constexpr int kEach = 150;
  auto increment = [](KvStore& store) {
    for (int i = 0; i < kEach; ++i)
      store.update("s", "counter", [](const std::optional<std::string>& cur) -> std::optional<std::string> {
        return std::to_string((cur ? std::stoi(*cur) : 0) + 1);
      });
  };
  std::thread ta([&] { increment(a); }), tb([&] { increment(b); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.get("s", "counter"), std::to_string(2 * kEach));
  b.remove("s", "k");
  b.remove("s", "counter");
  EXPECT_TRUE(a.list_groups().empty());
  EXPECT_EQ(raw.run({"EXISTS", "state:s", "iii:state-order:s"}).integer, 0);  // nothing left behind
}

// A set is a transaction (HGET, HSET) and, for a new key, a second step that indexes it if it is
// still there: sets and deletes of the same keys racing from two stores leave the order index
// and the scope set exactly matching the hash, and nothing once every key is gone.
TEST(RedisKvStore, RacingSetsAndDeletesOfNewKeysLeaveTheIndexMatchingTheHash) {
  testing::RedisServer::shared().flush();
  const RedisEndpoint e = testing::RedisServer::shared().endpoint();
  const auto store_a = make_redis_kv_store(std::make_shared<RedisClient>(e), "state");
  const auto store_b = make_redis_kv_store(std::make_shared<RedisClient>(e), "state");
  constexpr int kKeys = 4, kRounds = 300;
  auto churn = [](KvStore& store, int seed) {
    for (int i = 0; i < kRounds; ++i) {
      const std::string key = "k" + std::to_string((i + seed) % kKeys);
      if ((i + seed) % 3 == 0) store.remove("race", key);
      else store.set("race", key, std::to_string(i));
    }
  };
  std::thread ta([&] { churn(*store_a, 0); }), tb([&] { churn(*store_b, 1); });
  ta.join();
  tb.join();
  RedisPool raw(e);
  const RedisReply fields = raw.run({"HKEYS", "state:race"});
  const RedisReply indexed = raw.run({"ZRANGE", "iii:state-order:race", "0", "-1"});
  std::vector<std::string> in_hash, in_index;
  for (const RedisReply& f : fields.elements) in_hash.push_back(f.str);
  for (const RedisReply& f : indexed.elements) in_index.push_back(f.str);
  std::sort(in_hash.begin(), in_hash.end());
  std::sort(in_index.begin(), in_index.end());
  EXPECT_EQ(in_index, in_hash);
  EXPECT_EQ(raw.run({"SISMEMBER", "iii:state-scopes", "race"}).integer, in_hash.empty() ? 0 : 1);
  for (int k = 0; k < kKeys; ++k) store_a->remove("race", "k" + std::to_string(k));
  EXPECT_EQ(raw.run({"EXISTS", "state:race", "iii:state-order:race"}).integer, 0);

  // The window made certain: a delete issued right behind a set of a new key runs between the
  // set's transaction and its indexing step (one connection, in order; the step is issued when
  // the transaction answers). The step then finds the key gone and indexes nothing.
  std::promise<void> set_done, remove_done;
  {
    RedisClient::WaitingCaller on_the_home_connection;
    store_a->set_async("race", "gone", "1", [&](std::exception_ptr, std::optional<std::string>) { set_done.set_value(); });
    store_a->remove_async("race", "gone", [&](std::exception_ptr, std::optional<std::string>) { remove_done.set_value(); });
  }
  ASSERT_EQ(set_done.get_future().wait_for(10s), std::future_status::ready);
  ASSERT_EQ(remove_done.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(raw.run({"EXISTS", "state:race", "iii:state-order:race"}).integer, 0);
  EXPECT_TRUE(store_b->list_groups().empty());
  // A key set again after its delete goes back to the end of the order.
  store_a->set("race", "first", "1");
  store_a->set("race", "second", "2");
  store_b->remove("race", "first");
  store_b->set("race", "first", "3");
  EXPECT_EQ(store_a->list("race"), (std::vector<std::string>{"2", "3"}));
}

}  // namespace
}  // namespace iii
