// QueueDispatcher moves messages from the QueueStore to their functions and records the outcome.
//
// Each consumed queue has a consumer: it leases READY messages while fewer than `concurrency`
// deliveries are in flight, invokes each (a named queue calls the message's function_id; a
// subscriber queue fires its durable:subscriber binding, condition first), and on the answer
// acks (success), retries after backoff_ms * 2^(attempt-1) (failure), or dead-letters (failure
// of the last attempt, with the error).
//
// Leases: a delivery holds its message until the engine answers. The engine answers every call
// within its invocation timeout (a `timeout` error) or at once when the callee disconnects
// (`invocation_stopped`), so the lease deadline is that timeout (twice with a condition) plus a
// margin: past it the answer was lost, and the message counts as failed and is retried. An answer
// that arrives after that is fenced off by the attempt number. So a message is never wedged,
// and its next attempt starts only once the engine no longer waits on the previous one.
//
// Startup grace: right after the store opens (an engine restart), the workers that serve the
// recovered messages may not have reconnected yet. For kStartupGraceMs a delivery answered
// `function_not_found` does not count as an attempt; the message waits kNotFoundRetryMs and is
// tried again. Later, an unknown function is an ordinary failure (retried, then dead-lettered).
//
// Threads: the engine owns none; tick() runs on its ~100 ms ticker and answers arrive on any
// thread. The store work goes through the store's asynchronous forms (queue_store.h): a lease
// request, an outcome (ack, retry, bury) and the tick's scans are submitted, never waited for, so
// no engine thread waits for the disk; the SQLite store commits what arrives together in one
// transaction and answers on its writer thread, where deliveries then start. Consumers are pumped
// by whoever has news (enqueue, answer, tick); a consumer has at most one lease request out, and a
// pump asked while one is out goes around once more when it is answered instead of running twice,
// so answers that come back synchronously never recurse (and kMaxRoundsPerPump bounds the rounds).
// An outcome is submitted before the lease request that reuses its slot, so the store applies them
// in that order (FIFO groups see the ack before the next lease).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/endpoint.h"
#include "store/queue_store.h"
#include "workers/failure_log.h"
#include "workers/queue/queue_config.h"

namespace iii {

class Engine;

// Wall-clock milliseconds since the Unix epoch (tests pass a manual clock).
using QueueClock = std::function<int64_t()>;
int64_t queue_wall_clock_ms();

// How a consumer delivers: a binding (subscriber queues) or the message's own function_id.
struct ConsumerTarget {
  std::optional<TriggerBinding> binding;  // metadata cleared: queue subscribers get none
  std::string condition_function_id;
};

class QueueDispatcher : public std::enable_shared_from_this<QueueDispatcher> {
 public:
  static constexpr int64_t kLeaseMarginMs = 5000;
  static constexpr size_t kExpiredBatch = 256;
  static constexpr int64_t kStartupGraceMs = 30000;
  static constexpr int64_t kNotFoundRetryMs = 500;
  // Deliveries answered at once (an in-process function, an unknown one) let one pump go around
  // again and again; after this many rounds it yields until the next tick, so a deep queue of
  // failing messages never holds a thread for long.
  static constexpr int kMaxRoundsPerPump = 16;

  QueueDispatcher(Engine& engine, QueueClock clock);

  // Starts dispatching from `store`; leases held by a previous run come back as READY first.
  void open(std::shared_ptr<QueueStore> store);
  // Stops leasing. Deliveries in flight still record their outcome (the store stays open until
  // the last one answers).
  void close();
  std::shared_ptr<QueueStore> store() const;
  int64_t now() const { return clock_(); }

  // Adds or updates the consumer of `queue`.
  void set_consumer(const std::string& queue, const QueueSettings& settings, ConsumerTarget target);
  // Stops leasing from `queue`; its deliveries in flight finish.
  void remove_consumer(const std::string& queue);

  // Leases what `queue` may take now (after an enqueue).
  void wake(std::string_view queue);
  // Due retries become ready, lost leases fail, consumers poll. Call every ~100 ms.
  void tick();

  size_t in_flight(std::string_view queue) const;

 private:
  struct Consumer {
    std::string queue;
    QueueSettings settings;
    ConsumerTarget target;
    bool active = true;
    std::unordered_map<int64_t, uint32_t> in_flight;  // seq → attempt (the lease token)
    bool pumping = false, again = false;  // pumping: a lease request of this consumer is out
    int rounds = 0;                        // lease requests of the current pump
    int64_t next_poll_ms = 0;
  };
  using ConsumerPtr = std::shared_ptr<Consumer>;
  struct Lease {  // what an answer needs to find its message again
    int64_t seq = 0;
    uint32_t attempt = 0;
    std::string message_id;
  };

  void pump(const ConsumerPtr& c);
  // One lease request for the free slots of `c` (REQUIRES: c->pumping), answered by leased().
  void request_lease(const ConsumerPtr& c);
  void leased(const ConsumerPtr& c, QueueResult<std::vector<QueueMessage>> r);
  // The store work of a tick, where the store does its blocking work (QueueStore::run_async).
  void tick_store(QueueStore& store);
  void deliver(const ConsumerPtr& c, const ConsumerTarget& target, const QueueMessage& m);
  // An answer: error is nullopt on success.
  void finish(const ConsumerPtr& c, const Lease& lease, const std::optional<ErrorBody>& error);
  // Records one outcome in the store: ack, retry, bury (or release, see startup grace). Never throws.
  void settle(const std::string& queue, const QueueSettings& settings, const Lease& lease,
              const std::optional<ErrorBody>& error);
  int64_t lease_ms(const ConsumerTarget& target) const;
  ConsumerPtr find(std::string_view queue) const;  // REQUIRES: mu_ held

  Engine& engine_;
  const QueueClock clock_;
  mutable std::mutex mu_;
  std::shared_ptr<QueueStore> store_;
  bool closed_ = true;
  bool tick_queued_ = false;  // a tick waits for the store: the next ones are skipped until it ran
  int64_t opened_at_ms_ = 0;
  std::map<std::string, ConsumerPtr, std::less<>> consumers_;
  // A store that keeps failing (Redis down) fails every tick and delivery: logged sparingly.
  FailureLog store_failures_{"iii-queue"};
};

}  // namespace iii
