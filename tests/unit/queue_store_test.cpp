// The QueueStore contract (store/queue_store.h) on SqliteQueueStore: enqueue, lease, ack, retry,
// bury, lease expiry and fencing, the dead-letter queue (redrive, discard), FIFO groups, restart
// recovery (including after kill -9) and the one-process-per-file lock.
#include "store_test_support.h"
#include "temp_dir.h"
#include "store/sqlite_queue_store.h"
#include "redis_server.h"
#include "store/redis_queue_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>

#include "wire/uuid.h"

namespace iii {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, named after this suite.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-queue-store-test-") {}
};

NewQueueMessage msg(std::string queue, std::string id, std::string data = "{}", std::optional<std::string> group = {}) {
  return NewQueueMessage{std::move(queue), "", std::move(id), "fn", std::move(data), std::move(group), "", ""};
}

std::vector<std::string> ids(const std::vector<QueueMessage>& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms) out.push_back(m.message_id);
  return out;
}

using Ids = std::vector<std::string>;
constexpr int64_t kNow = 1'700'000'000'000;

// The contract tests run against every QueueStore implementation.
struct SqliteFileFactory {
  static constexpr const char* kName = "sqlite";
  std::unique_ptr<QueueStore> make(const TempDir& dir) {
    return std::make_unique<SqliteQueueStore>(dir.path() / "q" / "queue.sqlite3");
  }
};
struct SqliteMemoryFactory {
  static constexpr const char* kName = "sqlite_in_memory";
  std::unique_ptr<QueueStore> make(const TempDir&) { return std::make_unique<SqliteQueueStore>(":memory:"); }
};

template <class Factory>
class QueueStoreTest : public ::testing::Test {
 protected:
  void add(std::initializer_list<NewQueueMessage> ms) { store->enqueue(std::vector<NewQueueMessage>(ms), kNow); }
  TempDir dir;
  std::unique_ptr<QueueStore> store = Factory().make(dir);
};

// A real redis-server shared by the tests, emptied before each.
struct RedisFactory {
  static constexpr const char* kName = "redis";
  std::unique_ptr<QueueStore> make(const TempDir&) {
    testing::RedisServer::shared().flush();
    return std::make_unique<RedisQueueStore>(std::make_shared<RedisPool>(testing::RedisServer::shared().endpoint()));
  }
};

using Implementations = ::testing::Types<SqliteFileFactory, SqliteMemoryFactory, RedisFactory>;
TYPED_TEST_SUITE(QueueStoreTest, Implementations, ImplementationNames);

TYPED_TEST(QueueStoreTest, EnqueueLeaseAckInOrder) {
  this->add({msg("a", "m1", R"({"n":1})"), msg("a", "m2"), msg("b", "x1"), msg("a", "m3")});
  EXPECT_EQ(this->store->enqueue(std::vector<NewQueueMessage>{msg("a", "m1", "999")}, kNow), 0u);  // duplicate id ignored
  auto leased = this->store->lease("a", 2, false, kNow + 1000);
  ASSERT_EQ(ids(leased), (Ids{"m1", "m2"}));
  EXPECT_EQ(leased[0].data, R"({"n":1})");  // the first copy, byte for byte
  EXPECT_EQ(leased[0].attempt, 1u);
  EXPECT_EQ(leased[0].function_id, "fn");
  EXPECT_EQ(ids(this->store->lease("a", 5, false, kNow + 1000)), (Ids{"m3"}));
  EXPECT_TRUE(this->store->lease("a", 5, false, kNow + 1000).empty());
  EXPECT_EQ(this->store->counts({"a", false}).leased, 3u);
  EXPECT_TRUE(this->store->ack(leased[0].seq, 1));
  EXPECT_FALSE(this->store->ack(leased[0].seq, 1));  // already gone
  QueueCounts c = this->store->counts({"a", false});
  EXPECT_EQ(c.leased, 2u);
  EXPECT_EQ(c.pending(), 2u);
  EXPECT_EQ(this->store->counts({"b", false}).ready, 1u);
}

// Waits (10 s at most) for the answer of an asynchronous form.
template <class T>
QueueResult<T> answer_of(const std::function<void(QueueDone<T>)>& start) {
  auto got = std::make_shared<std::promise<QueueResult<T>>>();
  std::future<QueueResult<T>> f = got->get_future();
  start([got](QueueResult<T> r) { got->set_value(std::move(r)); });
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 10 s";
    return {};
  }
  return f.get();
}

TYPED_TEST(QueueStoreTest, TheAsynchronousFormsKeepTheSameContract) {
  QueueStore& store = *this->store;
  const auto enqueued = answer_of<size_t>([&](QueueDone<size_t> done) {
    store.enqueue_async({msg("a", "m1", R"({"n":1})"), msg("a", "m2"), msg("a", "m1", "999")}, kNow, std::move(done));
  });
  ASSERT_TRUE(enqueued.ok()) << enqueued.error;
  EXPECT_EQ(*enqueued.value, 2u);  // the duplicate id is ignored
  const auto leased = answer_of<std::vector<QueueMessage>>([&](QueueDone<std::vector<QueueMessage>> done) {
    store.lease_async("a", 5, false, kNow + 1000, std::move(done));
  });
  ASSERT_TRUE(leased.ok()) << leased.error;
  ASSERT_EQ(ids(*leased.value), (Ids{"m1", "m2"}));
  EXPECT_EQ((*leased.value)[0].data, R"({"n":1})");
  const QueueMessage first = (*leased.value)[0], second = (*leased.value)[1];
  auto settle = [&](QueueSettlement s) {
    return answer_of<bool>([&](QueueDone<bool> done) { store.settle_async(s, std::move(done)); });
  };
  QueueSettlement ack{QueueSettlement::Kind::kAck, first.seq, first.attempt, "", 0, kNow};
  EXPECT_EQ(settle(ack).value, std::optional<bool>(true));
  EXPECT_EQ(settle(ack).value, std::optional<bool>(false));  // that lease is no longer held
  QueueSettlement bury{QueueSettlement::Kind::kBury, second.seq, second.attempt, "it broke", 0, kNow};
  EXPECT_EQ(settle(bury).value, std::optional<bool>(true));
  EXPECT_TRUE(store.wait_idle(std::chrono::seconds(10)));
  const QueueCounts c = store.counts({"a", false});
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(c.dead, 1u);
  ASSERT_EQ(store.dead({"a", false}, 0, 10).size(), 1u);
  EXPECT_EQ(store.dead({"a", false}, 0, 10)[0].error, "it broke");
}

TYPED_TEST(QueueStoreTest, RetryWaitsForItsTimeAndKeepsItsPlace) {
  this->add({msg("a", "m1"), msg("a", "m2")});
  auto first = this->store->lease("a", 1, false, kNow + 1000);
  ASSERT_EQ(ids(first), (Ids{"m1"}));
  EXPECT_TRUE(this->store->retry(first[0].seq, 1, "boom", kNow + 500, kNow));
  EXPECT_EQ(this->store->counts({"a", false}).delayed, 1u);
  EXPECT_EQ(this->store->promote_due(kNow + 499), 0u);
  EXPECT_EQ(ids(this->store->lease("a", 5, false, kNow + 1000)), (Ids{"m2"}));
  EXPECT_EQ(this->store->promote_due(kNow + 500), 1u);
  auto again = this->store->lease("a", 5, false, kNow + 2000);
  ASSERT_EQ(ids(again), (Ids{"m1"}));
  EXPECT_EQ(again[0].attempt, 2u);
  EXPECT_EQ(again[0].last_error, "boom");
  // A retry whose time has come is ready at once.
  EXPECT_TRUE(this->store->retry(again[0].seq, 2, "again", kNow, kNow));
  EXPECT_EQ(this->store->counts({"a", false}).ready, 1u);
}

TYPED_TEST(QueueStoreTest, ReleaseGivesTheAttemptBack) {
  this->add({msg("a", "m1")});
  auto l1 = this->store->lease("a", 1, false, kNow + 1000);
  ASSERT_EQ(l1.size(), 1u);
  EXPECT_TRUE(this->store->release(l1[0].seq, 1, kNow + 500, kNow));
  EXPECT_FALSE(this->store->release(l1[0].seq, 1, kNow + 500, kNow));
  EXPECT_EQ(this->store->counts({"a", false}).delayed, 1u);
  this->store->promote_due(kNow + 500);
  auto l2 = this->store->lease("a", 1, false, kNow + 1000);
  ASSERT_EQ(l2.size(), 1u);
  EXPECT_EQ(l2[0].attempt, 1u);  // the released delivery did not count
}

TYPED_TEST(QueueStoreTest, StaleLeasesAreFencedOff) {
  this->add({msg("a", "m1")});
  auto l1 = this->store->lease("a", 1, false, kNow + 100);
  ASSERT_EQ(l1.size(), 1u);
  EXPECT_TRUE(this->store->expired(kNow + 99, 10).empty());
  auto exp = this->store->expired(kNow + 100, 10);
  ASSERT_EQ(ids(exp), (Ids{"m1"}));
  EXPECT_EQ(exp[0].attempt, 1u);
  ASSERT_TRUE(this->store->retry(l1[0].seq, 1, "lease_expired", kNow + 100, kNow + 100));
  auto l2 = this->store->lease("a", 1, false, kNow + 1000);
  ASSERT_EQ(l2.size(), 1u);
  EXPECT_EQ(l2[0].attempt, 2u);
  // The first delivery answers late: nothing changes.
  EXPECT_FALSE(this->store->ack(l1[0].seq, 1));
  EXPECT_FALSE(this->store->retry(l1[0].seq, 1, "late", kNow, kNow));
  EXPECT_FALSE(this->store->bury(l1[0].seq, 1, "late", kNow));
  EXPECT_EQ(this->store->counts({"a", false}).leased, 1u);
  EXPECT_TRUE(this->store->ack(l2[0].seq, 2));
  EXPECT_EQ(this->store->counts({"a", false}).pending(), 0u);
}

TYPED_TEST(QueueStoreTest, DeadLetterRedriveAndDiscard) {
  this->add({msg("a", "m1", "1"), msg("a", "m2", "2"), msg("a", "m3", "3")});
  for (const auto& m : this->store->lease("a", 3, false, kNow + 1000)) ASSERT_TRUE(this->store->bury(m.seq, 1, "err " + m.message_id, kNow + 5));
  QueueCounts c = this->store->counts({"a", false});
  EXPECT_EQ(c.dead, 3u);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_TRUE(this->store->lease("a", 3, false, kNow + 1000).empty());  // dead messages are never leased
  auto dead = this->store->dead({"a", false}, 1, 5);
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(dead[0].message_id, "m2");
  EXPECT_EQ(dead[0].data, "2");
  EXPECT_EQ(dead[0].error, "err m2");
  EXPECT_EQ(dead[0].failed_at_ms, kNow + 5);
  EXPECT_EQ(dead[0].attempts, 1u);

  EXPECT_TRUE(this->store->discard({"a", false}, "m1"));
  EXPECT_FALSE(this->store->discard({"a", false}, "m1"));
  EXPECT_FALSE(this->store->discard({"b", false}, "m2"));  // wrong queue
  EXPECT_TRUE(this->store->redrive_message({"a", false}, "m3", kNow));
  EXPECT_FALSE(this->store->redrive_message({"a", false}, "m3", kNow));  // no longer dead
  this->add({msg("a", "m4")});
  EXPECT_EQ(this->store->redrive({"a", false}, kNow), 1u);  // m2
  auto leased = this->store->lease("a", 10, false, kNow + 1000);
  EXPECT_EQ(ids(leased), (Ids{"m2", "m3", "m4"}));  // original order, ahead of newer messages
  EXPECT_EQ(leased[0].attempt, 1u);                 // a fresh attempt budget
  EXPECT_EQ(this->store->counts({"a", false}).dead, 0u);
}

TYPED_TEST(QueueStoreTest, TopicScopeCoversEverySubscriberQueue) {
  NewQueueMessage a{"t::f1@default", "t", "a1", "f1", "1", {}, "", ""};
  NewQueueMessage b{"t::f2@default", "t", "b1", "f2", "2", {}, "", ""};
  NewQueueMessage other{"u::f1@default", "u", "c1", "f1", "3", {}, "", ""};
  this->store->enqueue(std::vector<NewQueueMessage>{a, b, other}, kNow);
  for (const char* q : {"t::f1@default", "t::f2@default"})
    for (const auto& m : this->store->lease(q, 1, false, kNow + 1000)) this->store->bury(m.seq, 1, "x", kNow);
  EXPECT_EQ(this->store->counts({"t", true}).dead, 2u);
  EXPECT_EQ(this->store->counts({"u", true}).ready, 1u);
  EXPECT_EQ(this->store->dead({"t", true}, 0, 10).size(), 2u);
  auto sums = this->store->summaries();
  ASSERT_EQ(sums.size(), 3u);
  EXPECT_EQ(sums[0].queue, "t::f1@default");
  EXPECT_EQ(sums[0].topic, "t");
  EXPECT_EQ(sums[0].counts.dead, 1u);
  EXPECT_TRUE(this->store->redrive_message({"t", true}, "b1", kNow));
  EXPECT_EQ(this->store->redrive({"t", true}, kNow), 1u);
  EXPECT_EQ(this->store->counts({"t", true}).ready, 2u);
}

TYPED_TEST(QueueStoreTest, FifoLeasesOneHeadPerGroupInOrder) {
  this->add({msg("f", "a1", "{}", "A"), msg("f", "a2", "{}", "A"), msg("f", "b1", "{}", "B"), msg("f", "a3", "{}", "A"),
       msg("f", "b2", "{}", "B"), msg("f", "n1"), msg("f", "n2")});
  auto first = this->store->lease("f", 10, true, kNow + 1000);
  ASSERT_EQ(ids(first), (Ids{"a1", "b1", "n1"}));  // ungrouped messages form one group
  EXPECT_TRUE(this->store->lease("f", 10, true, kNow + 1000).empty());  // every group has one in flight
  ASSERT_TRUE(this->store->ack(first[0].seq, 1));                      // a1 done
  // b1 fails: group B waits for its retry even though b2 is ready.
  ASSERT_TRUE(this->store->retry(first[1].seq, 1, "x", kNow + 100, kNow));
  EXPECT_EQ(ids(this->store->lease("f", 10, true, kNow + 1000)), (Ids{"a2"}));
  this->store->promote_due(kNow + 100);
  auto retried = this->store->lease("f", 10, true, kNow + 1000);
  ASSERT_EQ(ids(retried), (Ids{"b1"}));
  EXPECT_EQ(retried[0].attempt, 2u);
  // Burying the head unblocks its group.
  ASSERT_TRUE(this->store->bury(retried[0].seq, 2, "dead", kNow));
  EXPECT_EQ(ids(this->store->lease("f", 1, true, kNow + 1000)), (Ids{"b2"}));
  // A redriven head is leased before the rest of its group, once the group is idle.
  EXPECT_EQ(this->store->redrive({"f", false}, kNow), 1u);
  EXPECT_TRUE(this->store->lease("f", 10, true, kNow + 1000).empty());  // a2, b2, n1 in flight
}

TYPED_TEST(QueueStoreTest, StandardLeaseIgnoresGroups) {
  this->add({msg("s", "a1", "{}", "A"), msg("s", "a2", "{}", "A")});
  EXPECT_EQ(ids(this->store->lease("s", 10, false, kNow + 1000)), (Ids{"a1", "a2"}));
}

TEST(SqliteQueueStore, RestartRecoversLeasesOfTheDeadRun) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  {
    SqliteQueueStore store(file);
    store.enqueue(std::vector<NewQueueMessage>{msg("a", "m1"), msg("a", "m2"), msg("a", "m3")}, kNow);
    ASSERT_EQ(store.lease("a", 2, false, kNow + 60'000).size(), 2u);
  }
  SqliteQueueStore store(file);
  EXPECT_EQ(store.recover(kNow), 2u);
  auto leased = store.lease("a", 10, false, kNow + 1000);
  EXPECT_EQ(ids(leased), (Ids{"m1", "m2", "m3"}));
  EXPECT_EQ(leased[0].attempt, 2u);  // the interrupted delivery counted as an attempt
  EXPECT_EQ(leased[2].attempt, 1u);
}

TEST(SqliteQueueStore, RecoverLeavesLiveHoldersAlone) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  SqliteQueueStore old_store(file);
  old_store.enqueue(std::vector<NewQueueMessage>{msg("a", "m1")}, kNow);
  auto leased = old_store.lease("a", 1, false, kNow + 60'000);
  ASSERT_EQ(leased.size(), 1u);
  SqliteQueueStore new_store(file);  // a hot reload: the old worker still drains
  EXPECT_EQ(new_store.recover(kNow), 0u);
  EXPECT_TRUE(old_store.ack(leased[0].seq, 1));
  EXPECT_EQ(new_store.counts({"a", false}).pending(), 0u);
}

TEST(SqliteQueueStore, EnqueueThatReturnedSurvivesKill9) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  ASSERT_NO_FATAL_FAILURE(run_then_kill9([&] {
    auto* store = new SqliteQueueStore(file);  // leaked on purpose: killed before any cleanup
    for (int i = 0; i < 200; ++i) store->enqueue(std::vector<NewQueueMessage>{msg("a", "m" + std::to_string(i))}, kNow);
    store->lease("a", 50, false, kNow + 60'000);
  }));
  SqliteQueueStore store(file);
  EXPECT_EQ(store.recover(kNow), 50u);
  EXPECT_EQ(store.counts({"a", false}).ready, 200u);
  EXPECT_EQ(store.lease("a", 1000, false, kNow + 1000).size(), 200u);
}

TEST(SqliteQueueStore, OneProcessPerFile) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // another engine holding the store
    auto* store = new SqliteQueueStore(file);
    (void)store;
    char c = 1;
    (void)!write(ready[1], &c, 1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  std::string error;
  try {
    SqliteQueueStore store(file);
  } catch (const QueueStoreError& e) {
    error = e.what();
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]), close(ready[1]);
  EXPECT_NE(error.find("in use by another process"), std::string::npos) << error;
  SqliteQueueStore store(file);  // the lock went with the killed process
}

TEST(SqliteQueueStore, UnwritableDirectoryIsAClearError) {
  TempDir dir;
  std::ofstream(dir.path() / "plain-file") << "x";
  try {
    SqliteQueueStore store(dir.path() / "plain-file" / "queue.sqlite3");
    FAIL() << "opened a store under a regular file";
  } catch (const QueueStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("plain-file"), std::string::npos) << e.what();
  }
}

TEST(SqliteQueueStore, InMemory) {
  SqliteQueueStore store(":memory:");
  store.enqueue(std::vector<NewQueueMessage>{msg("a", "m1")}, kNow);
  EXPECT_EQ(store.lease("a", 1, false, kNow).size(), 1u);
}

}  // namespace
}  // namespace iii
