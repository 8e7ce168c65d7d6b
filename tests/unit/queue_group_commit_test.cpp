// Group commit in SqliteQueueStore (store/sqlite_queue_store.h): the asynchronous operations that
// queue up while the writer is busy go into one transaction, in submission order, each answered
// only after that commit; batches are bounded; an acknowledged enqueue survives a crash; closing
// the store answers what was queued. The writer is held still with a run_async task that waits
// for a latch, so what a batch holds is decided by the test, not by timing.
#include "store_test_support.h"
#include "temp_dir.h"
#include "store/sqlite_queue_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

namespace iii {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-queue-group-commit-test-") {}
};

constexpr int64_t kNow = 1'700'000'000'000;

NewQueueMessage msg(std::string id, std::string data = "{}") {
  return NewQueueMessage{"q", "", std::move(id), "fn", std::move(data), std::nullopt, "", ""};
}

// Holds the store's writer inside a task until release() (or the destructor).
class Hold {
 public:
  explicit Hold(QueueStore& store) {
    EXPECT_TRUE(store.run_async([this] {
      started_.set_value();
      released_.get_future().wait();
    }));
    started_.get_future().wait();  // the writer is inside the task: what follows queues up
  }
  ~Hold() { release(); }
  void release() {
    if (!done_) released_.set_value(), done_ = true;
  }

 private:
  std::promise<void> started_, released_;
  bool done_ = false;
};

// Answers collected from any thread.
template <class T>
struct Answers {
  std::mutex mu;
  std::vector<QueueResult<T>> got;
  QueueDone<T> done() {
    return [this](QueueResult<T> r) {
      std::lock_guard lock(mu);
      got.push_back(std::move(r));
    };
  }
  size_t size() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

std::vector<NewQueueMessage> one(NewQueueMessage m) {
  std::vector<NewQueueMessage> v;
  v.push_back(std::move(m));
  return v;
}

TEST(QueueGroupCommit, OperationsQueuedTogetherShareOneCommitInOrder) {
  TempDir dir;
  SqliteQueueStore store(dir.path() / "queue.sqlite3");
  Answers<size_t> enqueued;
  Answers<std::vector<QueueMessage>> leased;
  const uint64_t before = store.commits();
  {
    Hold hold(store);
    for (int i = 0; i < 100; ++i) store.enqueue_async(one(msg("m" + std::to_string(i))), kNow, enqueued.done());
    // Submitted after the enqueues: it sees them (submission order), in the same transaction.
    store.lease_async("q", 10, false, kNow + 1000, leased.done());
    EXPECT_EQ(enqueued.size(), 0u);  // nothing is answered before its commit
  }
  ASSERT_TRUE(store.wait_idle(30s));
  EXPECT_EQ(store.commits() - before, 1u);
  ASSERT_EQ(enqueued.size(), 100u);
  for (auto& r : enqueued.got) EXPECT_EQ(r.value, std::optional<size_t>(1)) << r.error;
  ASSERT_EQ(leased.size(), 1u);
  ASSERT_TRUE(leased.got[0].ok());
  ASSERT_EQ(leased.got[0].value->size(), 10u);
  EXPECT_EQ(leased.got[0].value->front().message_id, "m0");
  EXPECT_EQ(store.counts({"q", false}).leased, 10u);
  EXPECT_EQ(store.counts({"q", false}).ready, 90u);
}

TEST(QueueGroupCommit, AcksOfManyDeliveriesAreOneCommit) {
  TempDir dir;
  SqliteQueueStore store(dir.path() / "queue.sqlite3");
  std::vector<NewQueueMessage> ms;
  for (int i = 0; i < 50; ++i) ms.push_back(msg("m" + std::to_string(i)));
  store.enqueue(ms, kNow);
  std::vector<QueueMessage> leased = store.lease("q", 50, false, kNow + 1000);
  ASSERT_EQ(leased.size(), 50u);
  Answers<bool> acked;
  const uint64_t before = store.commits();
  {
    Hold hold(store);
    for (const QueueMessage& m : leased)
      store.settle_async(QueueSettlement{QueueSettlement::Kind::kAck, m.seq, m.attempt, {}, 0, kNow}, acked.done());
    // A stale lease token in the same batch changes nothing and answers false.
    store.settle_async(QueueSettlement{QueueSettlement::Kind::kAck, leased[0].seq, leased[0].attempt + 1, {}, 0, kNow},
                       acked.done());
  }
  ASSERT_TRUE(store.wait_idle(30s));
  EXPECT_EQ(store.commits() - before, 1u);
  ASSERT_EQ(acked.size(), 51u);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(acked.got[i].value, std::optional<bool>(true));
  EXPECT_EQ(acked.got[50].value, std::optional<bool>(false));
  EXPECT_EQ(store.counts({"q", false}).pending(), 0u);
}

TEST(QueueGroupCommit, RetryBuryAndReleaseInOneBatch) {
  SqliteQueueStore store(":memory:");
  store.enqueue(std::vector<NewQueueMessage>{msg("a"), msg("b"), msg("c")}, kNow);
  std::vector<QueueMessage> l = store.lease("q", 3, false, kNow + 1000);
  ASSERT_EQ(l.size(), 3u);
  Answers<bool> settled;
  {
    Hold hold(store);
    store.settle_async(QueueSettlement{QueueSettlement::Kind::kRetry, l[0].seq, l[0].attempt, "e1", kNow + 500, kNow},
                       settled.done());
    store.settle_async(QueueSettlement{QueueSettlement::Kind::kBury, l[1].seq, l[1].attempt, "e2", 0, kNow},
                       settled.done());
    store.settle_async(QueueSettlement{QueueSettlement::Kind::kRelease, l[2].seq, l[2].attempt, {}, kNow, kNow},
                       settled.done());
  }
  ASSERT_TRUE(store.wait_idle(30s));
  ASSERT_EQ(settled.size(), 3u);
  for (auto& r : settled.got) EXPECT_EQ(r.value, std::optional<bool>(true));
  const QueueCounts c = store.counts({"q", false});
  EXPECT_EQ(c.delayed, 1u);
  EXPECT_EQ(c.dead, 1u);
  EXPECT_EQ(c.ready, 1u);
  std::vector<QueueMessage> again = store.lease("q", 3, false, kNow + 1000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].message_id, "c");
  EXPECT_EQ(again[0].attempt, 1u);  // release gave the attempt back
  ASSERT_EQ(store.dead({"q", false}, 0, 10).size(), 1u);
  EXPECT_EQ(store.dead({"q", false}, 0, 10)[0].error, "e2");
}

TEST(QueueGroupCommit, BatchesAreBoundedInOperationsAndBytes) {
  SqliteQueueStore store(":memory:");
  Answers<size_t> enqueued;
  uint64_t before = store.commits();
  const size_t n = 2 * SqliteQueueStore::kMaxBatchOps + 1;
  {
    Hold hold(store);
    for (size_t i = 0; i < n; ++i) store.enqueue_async(one(msg("m" + std::to_string(i))), kNow, enqueued.done());
  }
  ASSERT_TRUE(store.wait_idle(30s));
  EXPECT_EQ(store.commits() - before, 3u);
  EXPECT_EQ(enqueued.size(), n);
  EXPECT_EQ(store.counts({"q", false}).ready, n);

  // Three messages of 3/4 of the byte bound each: no two fit one batch.
  const std::string big = "\"" + std::string(SqliteQueueStore::kMaxBatchBytes * 3 / 4, 'x') + "\"";
  before = store.commits();
  {
    Hold hold(store);
    for (int i = 0; i < 3; ++i) store.enqueue_async(one(msg("big" + std::to_string(i), big)), kNow, enqueued.done());
  }
  ASSERT_TRUE(store.wait_idle(30s));
  EXPECT_EQ(store.commits() - before, 3u);
  EXPECT_EQ(store.counts({"q", false}).ready, n + 3);
}

TEST(QueueGroupCommit, WaitingEnqueuesAreBounded) {
  SqliteQueueStore store(":memory:");
  Answers<size_t> enqueued;
  {
    Hold hold(store);
    for (size_t i = 0; i < SqliteQueueStore::kMaxWaitingEnqueues; ++i)
      store.enqueue_async(one(msg("m" + std::to_string(i))), kNow, enqueued.done());
    EXPECT_EQ(enqueued.size(), 0u);
    store.enqueue_async(one(msg("over")), kNow, enqueued.done());
    ASSERT_EQ(enqueued.size(), 1u);  // refused at once, on the caller's thread
    EXPECT_FALSE(enqueued.got[0].ok());
    EXPECT_NE(enqueued.got[0].error.find("overloaded"), std::string::npos) << enqueued.got[0].error;
  }
  ASSERT_TRUE(store.wait_idle(60s));
  EXPECT_EQ(enqueued.size(), SqliteQueueStore::kMaxWaitingEnqueues + 1);
  EXPECT_EQ(store.counts({"q", false}).ready, SqliteQueueStore::kMaxWaitingEnqueues);  // "over" was not stored
}

TEST(QueueGroupCommit, ManyConcurrentEnqueuesAreAllDurableAfterReopen) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> ok{0};
  {
    SqliteQueueStore store(file);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          std::promise<bool> answered;  // one in flight per thread, as a producer with its receipt
          store.enqueue_async(one(msg(std::to_string(t) + "/" + std::to_string(i))), kNow,
                              [&](QueueResult<size_t> r) { answered.set_value(r.value == std::optional<size_t>(1)); });
          if (answered.get_future().get()) ++ok;
        }
      });
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(ok.load(), kThreads * kEach);
  SqliteQueueStore reopened(file);
  EXPECT_EQ(reopened.counts({"q", false}).ready, static_cast<uint64_t>(kThreads * kEach));
}

TEST(QueueGroupCommit, ClosingTheStoreAnswersWhatWasQueued) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  Answers<size_t> enqueued;
  {
    SqliteQueueStore store(file);
    Hold hold(store);
    for (int i = 0; i < 20; ++i) store.enqueue_async(one(msg("m" + std::to_string(i))), kNow, enqueued.done());
    hold.release();
  }  // the destructor lets the writer drain its queue, then closes the database
  EXPECT_EQ(enqueued.size(), 20u);
  SqliteQueueStore reopened(file);
  EXPECT_EQ(reopened.counts({"q", false}).ready, 20u);
}

// kill -9 right after answers were given: every answered enqueue is in the file (the answer
// comes only after the commit that holds it).
TEST(QueueGroupCommit, AnAnsweredEnqueueSurvivesKill9) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_NO_FATAL_FAILURE(run_then_kill9([&] {
    close(fds[0]);
    auto* store = new SqliteQueueStore(file);  // leaked on purpose: killed before any cleanup
    std::atomic<int> answered{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          const std::string id = std::to_string(t) + "/" + std::to_string(i);
          std::promise<void> done;
          store->enqueue_async(one(msg(id)), kNow, [&](QueueResult<size_t> r) {
            if (r.ok()) {
              const std::string line = id + "\n";
              (void)!write(fds[1], line.data(), line.size());  // the receipt, as a caller gets it
              if (++answered == 300) raise(SIGKILL);  // dies with enqueues queued and in a batch
            }
            done.set_value();
          });
          done.get_future().wait();
        }
      });
    for (auto& th : threads) th.join();
  }));
  close(fds[1]);
  std::set<std::string> receipts;
  std::string buf, line;
  char chunk[4096];
  for (ssize_t n; (n = read(fds[0], chunk, sizeof chunk)) > 0;) buf.append(chunk, static_cast<size_t>(n));
  close(fds[0]);
  for (char ch : buf) {
    if (ch == '\n') receipts.insert(line), line.clear();
    else line += ch;
  }
  EXPECT_GE(receipts.size(), 300u);
  SqliteQueueStore reopened(file);
  std::set<std::string> stored;
  for (const QueueMessage& m : reopened.lease("q", 100000, false, kNow + 1000)) stored.insert(m.message_id);
  for (const std::string& id : receipts) EXPECT_TRUE(stored.count(id)) << "acknowledged enqueue " << id << " was lost";
}

// A hot reload opens the file again while the older store drains: both share one connection
// (it is exclusive), each keeps its own leases, and the file outlives either of them.
TEST(QueueGroupCommit, StoresOfOneProcessOnOneFileShareItsConnection) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  auto old_store = std::make_unique<SqliteQueueStore>(file);
  old_store->enqueue(std::vector<NewQueueMessage>{msg("a"), msg("b")}, kNow);
  ASSERT_EQ(old_store->lease("q", 1, false, kNow + 1000).size(), 1u);
  SqliteQueueStore fresh(dir.path() / "." / "queue.sqlite3");  // the same file, spelled otherwise
  EXPECT_EQ(fresh.recover(kNow), 0u);  // the older store is alive: its lease stays
  std::vector<QueueMessage> b = fresh.lease("q", 5, false, kNow + 1000);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].message_id, "b");
  old_store.reset();
  EXPECT_EQ(fresh.recover(kNow), 1u);  // now it is gone: its lease comes back
  EXPECT_TRUE(fresh.ack(b[0].seq, b[0].attempt));
  Answers<size_t> enqueued;
  fresh.enqueue_async(one(msg("c")), kNow, enqueued.done());
  ASSERT_TRUE(fresh.wait_idle(30s));
  EXPECT_EQ(fresh.counts({"q", false}).ready, 2u);
}

// The last store released inside one of its writer's answers: the writer finishes by itself, and
// the file opens again at once.
TEST(QueueGroupCommit, ReleasedOnItsOwnWriterThenOpenedAgain) {
  TempDir dir;
  const fs::path file = dir.path() / "queue.sqlite3";
  for (int round = 0; round < 20; ++round) {
    auto store = std::make_shared<SqliteQueueStore>(file);
    std::promise<void> answered;
    SqliteQueueStore* raw = store.get();
    raw->enqueue_async(one(msg("m" + std::to_string(round))), kNow,
                       [&answered, keep = std::move(store)](QueueResult<size_t> r) mutable {
                         EXPECT_TRUE(r.ok()) << r.error;
                         keep.reset();  // the last reference: released on the writer thread
                         answered.set_value();
                       });
    answered.get_future().wait();
  }
  SqliteQueueStore reopened(file);
  EXPECT_EQ(reopened.counts({"q", false}).ready, 20u);
}

TEST(QueueGroupCommit, WaitIdleCoversFollowUps) {
  SqliteQueueStore store(":memory:");
  std::atomic<int> steps{0};
  // An answer that submits more work: idle only once that is answered too.
  store.enqueue_async(one(msg("a")), kNow, [&](QueueResult<size_t>) {
    ++steps;
    store.lease_async("q", 1, false, kNow + 1000, [&](QueueResult<std::vector<QueueMessage>> r) {
      ++steps;
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r.value->size(), 1u);
      const QueueMessage m = r.value->front();
      store.settle_async(QueueSettlement{QueueSettlement::Kind::kAck, m.seq, m.attempt, {}, 0, kNow},
                         [&](QueueResult<bool> a) {
                           EXPECT_EQ(a.value, std::optional<bool>(true));
                           ++steps;
                         });
    });
  });
  ASSERT_TRUE(store.wait_idle(30s));
  EXPECT_EQ(steps.load(), 3);
  EXPECT_EQ(store.counts({"q", false}).pending(), 0u);
}

}  // namespace
}  // namespace iii
