// The Redis queue store: the QueueStore contract (store/queue_store.h) on a Redis server, so that
// several engines share their queues (docs/redis.md, "Queues on Redis"). Every operation is one
// Lua script (store/redis_queue_scripts.cpp), an atomic step on the server.
//
// Layout, under the prefix `iii:queue:`:
//   m:<seq>                     hash: one message (fields in redis_queue_scripts.cpp)
//   seq                         counter of message sequence numbers (the store-wide order)
//   ids:<queue>                 hash: message id → seq (a duplicate enqueue is ignored)
//   ready:<queue>  dead:<queue> sorted sets of seq, scored by seq (enqueue order)
//   delayed:<queue>             sorted set of seq, scored by the retry time
//   leased:<queue>              sorted set of seq, scored by the lease deadline
//   due, leases                 the same two across every queue (what promote_due/expired scan)
//   busy:<queue>                hash: group → messages leased or delayed (FIFO gating)
//   queues, qt, topic:<topic>   the queues holding messages, each one's topic, a topic's queues
//   holders, held:<holder>      the stores that hold leases and the seqs each holds
//   live:<holder>               exists while that store is alive (renewed; expires after holder_ttl)
//   ready                       pub/sub channel: a queue's name, when messages of it became ready
//
// Lease holders. Each store (one per engine) is a holder with a liveness key that it renews from
// promote_due() (the dispatcher's tick). When an engine dies its key expires, and the next store to
// reclaim — every live store tries every kReclaimEvery — makes the dead holder's leases READY
// again: an engine's jobs in flight are taken over within about holder_ttl, much sooner than their
// lease deadlines. recover() is the same step. A store reclaims only after it has itself renewed
// without a break for holder_ttl (so, also, not in the first holder_ttl after it opens): after a
// Redis outage every key may have expired, and live holders need that long to renew theirs.
// expired() returns only this store's own leases. A late answer of the dead holder is fenced off by
// the attempt number, as everywhere.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/queue_store.h"
#include "store/redis_client.h"
#include "store/redis_connection.h"

namespace iii {

struct RedisScript;
class RedisSubscriber;

class RedisQueueStore final : public QueueStore {
 public:
  static constexpr auto kReclaimEvery = std::chrono::seconds(1);
  static constexpr size_t kFifoScanLimit = 4096;  // as SqliteQueueStore
  static constexpr size_t kPromoteBatch = 1000;
  static constexpr size_t kRedrivePage = 1000;  // dead messages per script of redrive()

  struct Options {
    std::string prefix = "iii:queue:";  // every engine of a cluster uses the same
    // How long the liveness key outlives its last renewal (renewed every fifth of it): the
    // bound on how long the jobs of a dead engine wait before another takes them over.
    std::chrono::milliseconds holder_ttl = std::chrono::seconds(5);
    // The engine's connection loops: each gets a lane of the client (store/redis_client.h), so
    // that an enqueue or a settlement issued there is answered there.
    std::vector<boost::asio::io_context*> loops;
  };

  // Registers this store as a lease holder (throws QueueStoreError when Redis cannot be reached).
  RedisQueueStore(std::shared_ptr<RedisPool> pool, Options options);
  explicit RedisQueueStore(std::shared_ptr<RedisPool> pool) : RedisQueueStore(std::move(pool), Options()) {}
  // Drops the liveness key, so that other engines take over this store's leases at once.
  ~RedisQueueStore() override;

  size_t enqueue(std::span<const NewQueueMessage> messages, int64_t now_ms) override;
  // Also renews this store's liveness and reclaims the leases of dead holders (see above).
  size_t promote_due(int64_t now_ms) override;
  std::vector<QueueMessage> lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms) override;
  bool ack(int64_t seq, uint32_t attempt) override;
  bool retry(int64_t seq, uint32_t attempt, std::string_view error, int64_t retry_at_ms, int64_t now_ms) override;
  bool bury(int64_t seq, uint32_t attempt, std::string_view error, int64_t now_ms) override;
  bool release(int64_t seq, uint32_t attempt, int64_t retry_at_ms, int64_t now_ms) override;
  std::vector<QueueMessage> expired(int64_t now_ms, size_t max) override;
  size_t recover(int64_t now_ms) override;
  // Subscribes to <prefix>ready, where every enqueue, redrive and takeover publishes its queue.
  void watch_ready(std::function<void(std::string_view queue)> fn) override;

  // The dispatcher's and the enqueue's path: the same scripts, pipelined on one connection
  // (store/redis_client.h), so that no thread waits for Redis; answered on the client's thread.
  void enqueue_async(std::vector<NewQueueMessage> messages, int64_t now_ms, QueueDone<size_t> done) override;
  void lease_async(std::string queue, size_t max, bool fifo, int64_t lease_until_ms,
                   QueueDone<std::vector<QueueMessage>> done) override;
  void settle_async(QueueSettlement settlement, QueueDone<bool> done) override;
  // Waits until the asynchronous operations issued so far (and what their answers issued) are answered.
  bool wait_idle(std::chrono::milliseconds timeout) override;

  QueueCounts counts(const QueueScope& scope) override;
  std::vector<QueueSummary> summaries() override;
  std::vector<DeadMessage> dead(const QueueScope& scope, size_t offset, size_t limit) override;
  size_t redrive(const QueueScope& scope, int64_t now_ms) override;
  bool redrive_message(const QueueScope& scope, std::string_view message_id, int64_t now_ms) override;
  bool discard(const QueueScope& scope, std::string_view message_id) override;

  const std::string& holder() const { return holder_; }

 private:
  void renew_liveness();
  // Runs a script with ARGV = {prefix, args...}; throws QueueStoreError.
  RedisReply run(const RedisScript& script, std::vector<std::string_view> args);
  // The same on the pipelining client: `done` gets the reply, or the error's text.
  void run_async(const RedisScript& script, std::vector<std::string_view> args,
                 std::function<void(std::string error, RedisReply reply)> done);

  std::shared_ptr<RedisPool> pool_;
  std::shared_ptr<RedisClient> client_;  // the asynchronous forms
  // Asynchronous operations not answered yet (wait_idle). Shared with their completions, which
  // may come after the store is gone (the client answers every command, at the latest when it closes).
  struct InFlight {
    std::mutex mu;
    std::condition_variable idle;
    size_t count = 0;
  };
  const std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
  std::unique_ptr<RedisSubscriber> ready_;  // set by watch_ready()
  const std::string prefix_, holder_;
  const std::chrono::milliseconds holder_ttl_;
  using SteadyTime = std::chrono::steady_clock::time_point;
  std::mutex upkeep_mu_;
  SteadyTime renewed_at_{}, reclaimed_at_{};
  // Since when the liveness key has been renewed without a break (unset after a failure), and
  // the last successful renewal: recover() reclaims only after a whole holder_ttl of it.
  std::optional<SteadyTime> live_since_;
  SteadyTime renewed_ok_at_{};
};

}  // namespace iii
