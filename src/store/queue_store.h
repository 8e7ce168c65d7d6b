// A durable message queue log: many named queues in one store, each message a row with a state.
//
//        enqueue            lease                 ack
//   ──────────────> READY ─────────> LEASED ──────────────> (deleted)
//                     ^  promote_due   │ retry (backoff)
//                  DELAYED <───────────┤
//                     ^                │ bury (last attempt)
//                     └── redrive ── DEAD (the queue's dead-letter queue)
//
// Contract (every implementation passes tests/unit/queue_store_test.cpp):
//  * Durability: enqueue() returns only once the messages are committed; a message that was
//    enqueued is never lost until ack() or discard() removes it (a crash of the process included).
//  * Leases: lease() hands a READY message to one holder with a deadline and increments its
//    `attempt`. The attempt number is the lease token: ack/retry/bury of an older attempt (a late
//    answer after the lease expired and the message was leased again) change nothing and return
//    false, so two deliveries of one message never both complete it.
//  * A lease whose deadline passed is reported by expired(); the caller decides (retry or bury).
//    recover() hands back leases whose holder is gone (a previous run of the process) as READY.
//  * Order: messages of a queue are leased in enqueue order (`seq`); a retried or redriven
//    message keeps its place, ahead of newer ones.
//  * FIFO (lease with fifo = true): per message group, only the oldest message that is not dead
//    may be leased, and only while no message of its group is LEASED or DELAYED. So a group has
//    at most one message in flight and a failing message blocks its group until it succeeds or
//    is buried. Messages without a group form one group together (strictly serial).
//  * Memory: messages live in the store; a call loads at most what it returns.
//  * Errors: an operation that cannot be done (I/O error, full disk) throws QueueStoreError and
//    changes nothing. Thread safety: every method may be called from any thread.
//  * Asynchronous forms (the hot path: enqueue, lease, the end of a delivery): the same operation,
//    answered through a callback once it is committed, so that no event loop waits for the disk.
//    A store may commit several of them in one transaction (SqliteQueueStore: group commit); they
//    take effect in the order they were submitted, and each is answered only after the commit
//    that holds it. The defaults run the synchronous form at once, on the caller's thread.
//
// Times are wall-clock milliseconds since the Unix epoch chosen by the caller, so a deadline
// stored before a restart still means something after it.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct QueueStoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NewQueueMessage {
  std::string queue;        // the store's queue name (internal: `__fn_queue::jobs`, `topic::fn@ns`)
  std::string topic;        // the topic of a subscriber queue; "" for named queues
  std::string message_id;   // unique within the queue; a duplicate enqueue is ignored
  std::string function_id;  // what a delivery invokes
  std::string data;         // raw JSON
  std::optional<std::string> group;  // FIFO message group
  std::string traceparent, baggage;  // "" = none
};

// A leased message, as a delivery sees it.
struct QueueMessage {
  int64_t seq = 0;  // store-wide order
  std::string queue, topic, message_id, function_id, data, traceparent, baggage;
  std::optional<std::string> group;
  uint32_t attempt = 0;     // 1 for the first delivery; also the lease token
  std::string last_error;   // of the previous attempt, "" if none
};

struct DeadMessage {
  std::string queue, topic, message_id, function_id, data, error;
  int64_t failed_at_ms = 0;
  uint32_t attempts = 0;
};

// The answer of an asynchronous operation: its value, or the message of the QueueStoreError that
// stopped it (nothing changed then).
template <class T>
struct QueueResult {
  std::optional<T> value;
  std::string error;
  bool ok() const { return value.has_value(); }
};
template <class T>
using QueueDone = std::function<void(QueueResult<T>)>;

// How a delivery ended, for settle_async(): the arguments of ack, retry, bury or release.
struct QueueSettlement {
  enum class Kind { kAck, kRetry, kBury, kRelease };
  Kind kind = Kind::kAck;
  int64_t seq = 0;
  uint32_t attempt = 0;
  std::string error;        // retry, bury
  int64_t retry_at_ms = 0;  // retry, release
  int64_t now_ms = 0;       // retry, bury, release
};

struct QueueCounts {
  uint64_t ready = 0, delayed = 0, leased = 0, dead = 0;
  uint64_t pending() const { return ready + delayed + leased; }
};

struct QueueSummary {
  std::string queue, topic;
  QueueCounts counts;
};

// Which messages an admin call is about: one queue, or every subscriber queue of a topic.
struct QueueScope {
  std::string name;
  bool is_topic = false;
};

class QueueStore {
 public:
  virtual ~QueueStore() = default;

  // Appends `messages` atomically (all or none). Returns how many were new.
  virtual size_t enqueue(std::span<const NewQueueMessage> messages, int64_t now_ms) = 0;

  // Makes DELAYED messages whose time came READY. Returns how many.
  virtual size_t promote_due(int64_t now_ms) = 0;

  // Leases up to `max` READY messages of `queue` until `lease_until_ms` (see FIFO above).
  virtual std::vector<QueueMessage> lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms) = 0;

  // Ends lease `attempt` of message `seq`. False (and nothing changes) when that lease is no
  // longer held. ack deletes the message; retry makes it READY again at `retry_at_ms` (DELAYED
  // until then); bury moves it to the dead-letter queue with `error`.
  virtual bool ack(int64_t seq, uint32_t attempt) = 0;
  virtual bool retry(int64_t seq, uint32_t attempt, std::string_view error, int64_t retry_at_ms, int64_t now_ms) = 0;
  virtual bool bury(int64_t seq, uint32_t attempt, std::string_view error, int64_t now_ms) = 0;
  // Like retry, but the delivery does not count: the attempt number is given back. Only for a
  // delivery that is known to be over (its answer came), since its lease token is reused.
  virtual bool release(int64_t seq, uint32_t attempt, int64_t retry_at_ms, int64_t now_ms) = 0;

  // Up to `max` leases whose deadline is at or before `now_ms`, whoever holds them.
  virtual std::vector<QueueMessage> expired(int64_t now_ms, size_t max) = 0;

  // Leases held by holders that no longer exist (a crashed run) become READY. Returns how many.
  virtual size_t recover(int64_t now_ms) = 0;

  // A store shared by several engines (Redis) calls `fn` with a queue's name when another engine
  // made messages of it ready (an enqueue, a redrive, a takeover), so that this engine's consumers
  // start at once rather than at their next poll. Others never call it. `fn` may run on any
  // thread; call once, before use.
  virtual void watch_ready(std::function<void(std::string_view queue)> fn) { (void)fn; }

  // --- asynchronous forms (see the contract above) ---
  // `done` runs exactly once, on any thread (possibly before the call returns), never under a lock
  // of the store; it must not wait for another asynchronous operation of the same store.
  virtual void enqueue_async(std::vector<NewQueueMessage> messages, int64_t now_ms, QueueDone<size_t> done);
  virtual void lease_async(std::string queue, size_t max, bool fifo, int64_t lease_until_ms,
                           QueueDone<std::vector<QueueMessage>> done);
  // ack, retry, bury or release; the value says whether the lease was still held.
  virtual void settle_async(QueueSettlement settlement, QueueDone<bool> done);
  // Runs `task` where this store does its blocking work, after the operations submitted before it
  // (SqliteQueueStore: its writer thread); the default runs it at once. For the synchronous calls
  // that must not hold an event loop (admin functions, the dispatcher's tick). False, and `task`
  // dropped, when too many tasks wait already (the caller answers an error instead).
  virtual bool run_async(std::function<void()> task) {
    task();
    return true;
  }
  // Waits until every operation and task submitted so far has been answered, and those answers'
  // follow-ups too (what they submitted in turn). False when `timeout` passed first.
  virtual bool wait_idle(std::chrono::milliseconds timeout) {
    (void)timeout;
    return true;
  }

  // --- dead-letter queue and introspection ---
  virtual QueueCounts counts(const QueueScope& scope) = 0;
  virtual std::vector<QueueSummary> summaries() = 0;  // every queue holding a message
  virtual std::vector<DeadMessage> dead(const QueueScope& scope, size_t offset, size_t limit) = 0;
  // Dead messages back to READY with a fresh attempt budget, in their original order.
  virtual size_t redrive(const QueueScope& scope, int64_t now_ms) = 0;
  virtual bool redrive_message(const QueueScope& scope, std::string_view message_id, int64_t now_ms) = 0;
  // Deletes one dead message.
  virtual bool discard(const QueueScope& scope, std::string_view message_id) = 0;

 protected:
  // Runs one settlement through the synchronous forms.
  bool settle(const QueueSettlement& s);
};

// The defaults: the synchronous form at once, its QueueStoreError as the answer's error.
inline void QueueStore::enqueue_async(std::vector<NewQueueMessage> messages, int64_t now_ms, QueueDone<size_t> done) {
  QueueResult<size_t> r;
  try {
    r.value = enqueue(messages, now_ms);
  } catch (const QueueStoreError& e) {
    r.error = e.what();
  }
  done(std::move(r));
}

inline void QueueStore::lease_async(std::string queue, size_t max, bool fifo, int64_t lease_until_ms,
                                    QueueDone<std::vector<QueueMessage>> done) {
  QueueResult<std::vector<QueueMessage>> r;
  try {
    r.value = lease(queue, max, fifo, lease_until_ms);
  } catch (const QueueStoreError& e) {
    r.error = e.what();
  }
  done(std::move(r));
}

inline bool QueueStore::settle(const QueueSettlement& s) {
  switch (s.kind) {
    case QueueSettlement::Kind::kAck: return ack(s.seq, s.attempt);
    case QueueSettlement::Kind::kRetry: return retry(s.seq, s.attempt, s.error, s.retry_at_ms, s.now_ms);
    case QueueSettlement::Kind::kBury: return bury(s.seq, s.attempt, s.error, s.now_ms);
    case QueueSettlement::Kind::kRelease: return release(s.seq, s.attempt, s.retry_at_ms, s.now_ms);
  }
  return false;
}

inline void QueueStore::settle_async(QueueSettlement settlement, QueueDone<bool> done) {
  QueueResult<bool> r;
  try {
    r.value = settle(settlement);
  } catch (const QueueStoreError& e) {
    r.error = e.what();
  }
  done(std::move(r));
}

}  // namespace iii
