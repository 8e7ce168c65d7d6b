// The `iii-queue` built-in (alias `queue`; docs/builtins.md §3): durable named queues for
// TriggerAction.Enqueue (it registers engine::queue::enqueue itself), durable topics
// (iii::durable::publish + the `durable:subscriber` trigger type), retries with exponential
// backoff, a dead-letter queue per queue with redrive/discard, and introspection functions.
//
// Guarantees (the embedded store, file_based): an enqueue that answered with a receipt is on
// disk and survives kill -9 of the engine; every message is delivered at least once (after a
// crash, the deliveries that were in flight run again; handlers must be idempotent); a delivery
// whose answer is lost is retried once its lease expires; the attempts of one message never
// overlap; memory does not grow with queue depth (messages live in the store).
//
// The store opens in start() (a clear error, and the worker does not start, when the data
// directory cannot be written) and stops leasing in stop().
#pragma once
#include <memory>

#include "store/queue_store.h"
#include "workers/builtin.h"
#include "workers/queue/queue_config.h"
#include "workers/queue/queue_dispatcher.h"

namespace iii {

inline constexpr const char* kQueueWorkerName = "iii-queue";

// name "iii-queue", alias "queue"; the factory parses the block (queue_config.h).
BuiltinDescriptor queue_builtin();

// A queue worker on a store and clock of the caller's choosing (tests): start() opens `store`
// (when given) instead of the one the config describes.
std::unique_ptr<BuiltinWorker> make_queue_worker(Engine& engine, QueueWorkerConfig config,
                                                 std::shared_ptr<QueueStore> store = nullptr,
                                                 QueueClock clock = queue_wall_clock_ms);

}  // namespace iii
