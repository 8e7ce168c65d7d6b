// What only the Redis queue store shows (the QueueStore contract itself is queue_store_test.cpp's
// conformance suite): two stores on one server are two engines sharing their queues. Leases are
// never handed out twice, the leases of a store that died (kill -9) are taken over once its
// liveness key expires, its late answers are fenced off, and a server that is down is a clear error.
#include "store/redis_queue_store.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>

#include <atomic>
#include <condition_variable>
#include <set>
#include <thread>

#include "io_thread.h"
#include "redis_server.h"
#include "store_test_support.h"

namespace iii {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kNow = 1'700'000'000'000;

NewQueueMessage msg(std::string id) { return NewQueueMessage{"q", "", std::move(id), "fn", "{}", {}, "", ""}; }

std::shared_ptr<RedisPool> shared_pool() {
  return std::make_shared<RedisPool>(testing::RedisServer::shared().endpoint());
}

class RedisQueueStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::RedisServer::shared().flush(); }
};

TEST_F(RedisQueueStoreTest, TwoStoresNeverLeaseOneMessageTwice) {
  RedisQueueStore a(shared_pool()), b(shared_pool());
  std::vector<NewQueueMessage> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(msg("m" + std::to_string(i)));
  ASSERT_EQ(a.enqueue(batch, kNow), 500u);
  EXPECT_EQ(b.enqueue(batch, kNow), 0u);  // the other engine sees the same ids
  std::mutex mu;
  std::multiset<std::string> leased;
  auto drain = [&](RedisQueueStore& store) {
    for (;;) {
      auto got = store.lease("q", 7, false, kNow + 60'000);
      if (got.empty()) return;
      for (const auto& m : got) {
        EXPECT_TRUE(store.ack(m.seq, m.attempt));
        std::lock_guard lock(mu);
        leased.insert(m.message_id);
      }
    }
  };
  std::thread ta([&] { drain(a); }), tb([&] { drain(b); });
  ta.join(), tb.join();
  EXPECT_EQ(leased.size(), 500u);
  EXPECT_EQ(std::set<std::string>(leased.begin(), leased.end()).size(), 500u);  // no message twice
  EXPECT_EQ(a.counts({"q", false}).pending(), 0u);
  EXPECT_TRUE(a.summaries().empty());  // an emptied queue leaves nothing behind
}

TEST_F(RedisQueueStoreTest, AnotherStoresEnqueueAndRedriveWakeTheWatchers) {
  RedisQueueStore a(shared_pool()), b(shared_pool());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> woken;
  b.watch_ready([&](std::string_view queue) {
    std::lock_guard lock(mu);
    woken.emplace_back(queue);
    cv.notify_all();
  });
  auto wait_for = [&](size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return woken.size() >= n; });
  };
  // The subscription is confirmed asynchronously: enqueue until the first wake-up arrives.
  for (int i = 0; i < 50 && !wait_for(1); ++i) a.enqueue(std::vector{msg("probe" + std::to_string(i))}, kNow);
  ASSERT_GE(woken.size(), 1u);
  {
    std::lock_guard lock(mu);
    woken.clear();
  }
  // One wake-up per script and queue, however many messages it added.
  ASSERT_EQ(a.enqueue(std::vector{msg("x1"), msg("x2"), msg("x3")}, kNow), 3u);
  ASSERT_TRUE(wait_for(1));
  // A message dead-lettered and redriven wakes them again.
  const auto leased = a.lease("q", 100, false, kNow + 60'000);
  ASSERT_FALSE(leased.empty());
  ASSERT_TRUE(a.bury(leased[0].seq, leased[0].attempt, "boom", kNow));
  ASSERT_TRUE(a.redrive_message({"q", false}, leased[0].message_id, kNow));
  ASSERT_TRUE(wait_for(2));
  std::lock_guard lock(mu);
  EXPECT_EQ(woken, (std::vector<std::string>{"q", "q"}));
}

// Ticks `stores` (promote_due renews their liveness and reclaims) every 20 ms until `done()` or 3 s.
template <class Done>
void tick_until(std::initializer_list<RedisQueueStore*> stores, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    for (RedisQueueStore* s : stores) s->promote_due(kNow);
    std::this_thread::sleep_for(20ms);
  }
}

TEST_F(RedisQueueStoreTest, LeasesOfAKilledEngineAreTakenOverOnceItsLivenessExpires) {
  RedisQueueStore::Options fast;
  fast.holder_ttl = 300ms;
  RedisQueueStore survivor(shared_pool(), fast);
  survivor.enqueue(std::vector<NewQueueMessage>{msg("m1"), msg("m2"), msg("m3")}, kNow);
  run_then_kill9([&] {
    // The other engine: leases two messages and dies without a word.
    auto* dying = new RedisQueueStore(shared_pool(), fast);
    if (dying->lease("q", 2, false, kNow + 3'600'000).size() != 2) _exit(1);
  });
  EXPECT_EQ(survivor.recover(kNow), 0u);  // its liveness key has not expired yet
  EXPECT_EQ(survivor.counts({"q", false}).leased, 2u);
  // The survivor's ticks reclaim on their own once the dead key expired and the survivor has been
  // live a whole holder_ttl.
  const auto start = std::chrono::steady_clock::now();
  tick_until({&survivor}, [&] { return survivor.counts({"q", false}).leased == 0; });
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms) << "reclaimed before the dead key could expire";
  const QueueCounts c = survivor.counts({"q", false});
  EXPECT_EQ(c.leased, 0u);
  EXPECT_EQ(c.ready, 3u);
  auto again = survivor.lease("q", 10, false, kNow + 1000);
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(again[0].message_id, "m1");
  EXPECT_EQ(again[0].attempt, 2u);  // the interrupted delivery counted
  EXPECT_EQ(again[2].attempt, 1u);
}

TEST_F(RedisQueueStoreTest, AStoreThatStopsRenewingIsFencedOff) {
  RedisQueueStore::Options fast;
  fast.holder_ttl = 200ms;
  RedisQueueStore stalled(shared_pool(), fast), other(shared_pool(), fast);
  stalled.enqueue(std::vector<NewQueueMessage>{msg("m1")}, kNow);
  auto first = stalled.lease("q", 1, false, kNow + 3'600'000);
  ASSERT_EQ(first.size(), 1u);
  // `stalled` never ticks: its liveness lapses, and `other`'s ticks reclaim its lease.
  tick_until({&other}, [&] { return other.counts({"q", false}).ready == 1; });
  auto second = other.lease("q", 1, false, kNow + 1000);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempt, 2u);
  EXPECT_FALSE(stalled.ack(first[0].seq, 1));  // its late answer changes nothing
  EXPECT_TRUE(other.ack(second[0].seq, 2));
  EXPECT_EQ(other.counts({"q", false}).pending(), 0u);
}

TEST_F(RedisQueueStoreTest, ALiveEngineKeepsItsLeasesAndACleanStopHandsThemOver) {
  RedisQueueStore::Options fast;
  fast.holder_ttl = 200ms;
  auto other = std::make_unique<RedisQueueStore>(shared_pool(), fast);
  RedisQueueStore store(shared_pool(), fast);
  store.enqueue(std::vector<NewQueueMessage>{msg("m1")}, kNow);
  ASSERT_EQ(other->lease("q", 1, false, kNow + 3'600'000).size(), 1u);
  // Both tick for two holder_ttls: `store` may reclaim by then, and must find nothing to take.
  const auto until = std::chrono::steady_clock::now() + 400ms;
  tick_until({&store, other.get()}, [&] { return std::chrono::steady_clock::now() >= until; });
  EXPECT_EQ(store.recover(kNow), 0u);
  EXPECT_EQ(store.counts({"q", false}).leased, 1u);
  other.reset();  // a clean stop drops the liveness key at once
  EXPECT_EQ(store.recover(kNow), 1u);
}

TEST_F(RedisQueueStoreTest, AfterARedisOutageNoLiveHolderLosesItsLeases) {
  // Every key expired while Redis was unreachable (simulated by deleting them): the first store
  // back must not take the other's leases before that one had a whole holder_ttl to renew.
  RedisQueueStore::Options fast;
  fast.holder_ttl = 200ms;
  RedisQueueStore a(shared_pool(), fast), b(shared_pool(), fast);
  a.enqueue(std::vector<NewQueueMessage>{msg("m1")}, kNow);
  ASSERT_EQ(b.lease("q", 1, false, kNow + 3'600'000).size(), 1u);
  const auto until = std::chrono::steady_clock::now() + 300ms;
  tick_until({&a, &b}, [&] { return std::chrono::steady_clock::now() >= until; });
  shared_pool()->run({"DEL", "iii:queue:live:" + a.holder(), "iii:queue:live:" + b.holder()});
  std::this_thread::sleep_for(250ms);  // a tick after this gap renews `a` after more than holder_ttl
  const auto later = std::chrono::steady_clock::now() + 600ms;  // three holder_ttls of both ticking
  tick_until({&a, &b}, [&] { return std::chrono::steady_clock::now() >= later; });
  EXPECT_EQ(a.counts({"q", false}).leased, 1u) << "a live holder's lease was taken";
}

TEST_F(RedisQueueStoreTest, ALargeDeadLetterQueueIsRedrivenInPagesInOrder) {
  RedisQueueStore store(shared_pool());
  const size_t n = RedisQueueStore::kRedrivePage * 2 + 500;
  std::vector<NewQueueMessage> batch;
  for (size_t i = 0; i < n; ++i) batch.push_back(msg("m" + std::to_string(i)));
  ASSERT_EQ(store.enqueue(batch, kNow), n);
  for (const QueueMessage& m : store.lease("q", n, false, kNow + 60'000)) ASSERT_TRUE(store.bury(m.seq, m.attempt, "x", kNow));
  ASSERT_EQ(store.counts({"q", false}).dead, n);
  // A page from the middle of the listing.
  const auto page = store.dead({"q", false}, 1000, 3);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].message_id, "m1000");
  EXPECT_EQ(store.redrive({"q", false}, kNow), n);
  EXPECT_EQ(store.counts({"q", false}).dead, 0u);
  const auto again = store.lease("q", 2, false, kNow + 60'000);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].message_id, "m0");
  EXPECT_EQ(again[1].message_id, "m1");
}

TEST_F(RedisQueueStoreTest, AnEventLoopsJobsAreAnsweredOnThatLoop) {
  // The engine gives the store its connection loops: an enqueue, a lease and an ack made on a loop
  // go down that loop's lane of the client and are answered on the loop's thread.
  testing::IoThread loop;
  RedisQueueStore store(shared_pool(), RedisQueueStore::Options{.loops = {&loop.io}});
  struct Seen {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> steps;
    int off_loop = 0;
  } seen;
  auto note = [&](std::string step) {
    std::lock_guard lock(seen.mu);
    if (!loop.io.get_executor().running_in_this_thread()) ++seen.off_loop;
    seen.steps.push_back(std::move(step));
    seen.cv.notify_all();
  };
  boost::asio::post(loop.io, [&] {
    store.enqueue_async({msg("m1"), msg("m2")}, kNow, [&](QueueResult<size_t> r) {
      note("enqueued " + (r.ok() ? std::to_string(*r.value) : r.error));
      store.lease_async("q", 5, false, kNow + 60'000, [&](QueueResult<std::vector<QueueMessage>> r) {
        note("leased " + (r.ok() ? std::to_string(r.value->size()) : r.error));
        if (!r.ok() || r.value->empty()) return;
        const QueueMessage& m = r.value->front();
        store.settle_async(QueueSettlement{QueueSettlement::Kind::kAck, m.seq, m.attempt, "", 0, kNow},
                           [&](QueueResult<bool> r) { note(std::string("acked ") + (r.ok() && *r.value ? "1" : "0")); });
      });
    });
  });
  {
    std::unique_lock lock(seen.mu);
    ASSERT_TRUE(seen.cv.wait_for(lock, 10s, [&] { return seen.steps.size() >= 3; })) << "no answer in 10 s";
    EXPECT_EQ(seen.steps, (std::vector<std::string>{"enqueued 2", "leased 2", "acked 1"}));
    EXPECT_EQ(seen.off_loop, 0);
  }
  EXPECT_TRUE(store.wait_idle(10s));
  EXPECT_EQ(store.counts({"q", false}).leased, 1u);  // m2 is still leased; m1 is gone
}

TEST(RedisQueueStore, AServerThatIsDownIsAClearError) {
  const uint16_t port = testing::RedisServer::free_port();
  auto pool = std::make_shared<RedisPool>(RedisEndpoint::parse("redis://127.0.0.1:" + std::to_string(port)), 2, 500ms);
  try {
    RedisQueueStore store(pool);
    FAIL() << "opened a store on a server that is not there";
  } catch (const QueueStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
  }
}

TEST(RedisQueueStore, RedisRestartFailsCallsThenRecovers) {
  testing::RedisServer server;
  auto pool = std::make_shared<RedisPool>(server.endpoint(), 2, 500ms);
  RedisQueueStore store(pool);
  store.enqueue(std::vector<NewQueueMessage>{msg("m1")}, kNow);
  const uint16_t port = server.port();
  server.stop();
  EXPECT_THROW(store.enqueue(std::vector<NewQueueMessage>{msg("m2")}, kNow), QueueStoreError);
  testing::RedisServer again(port);  // no persistence in tests: the data went with it
  EXPECT_EQ(store.enqueue(std::vector<NewQueueMessage>{msg("m2")}, kNow), 1u);
  EXPECT_EQ(store.lease("q", 5, false, kNow + 1000).size(), 1u);
}

}  // namespace
}  // namespace iii
