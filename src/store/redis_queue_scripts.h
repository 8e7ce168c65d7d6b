// The Lua scripts of the Redis queue store (store/redis_queue_store.h): one per QueueStore
// operation, each an atomic step on the server. Every script takes the store's key prefix as
// ARGV[1]; the layout is in redis_queue_store.h and docs/redis.md.
#pragma once
#include "store/redis_script.h"

namespace iii::redis_queue_scripts {

// ARGV: prefix, now, then per message: queue, topic, id, function, data, has group ('1'/'0'),
// group, traceparent, baggage. Returns how many were new.
extern const RedisScript kEnqueue;
// ARGV: prefix, now, limit. Delayed messages due by now become ready; returns how many.
extern const RedisScript kPromoteDue;
// ARGV: prefix, queue, max, fifo ('1'/'0'), lease until, holder, FIFO scan limit. Returns the
// leased messages (each as kRead returns it).
extern const RedisScript kLease;
// ARGV: prefix, seq, attempt, mode ('ack' | 'bury'), error, now: a delivery that is not retried.
// Returns 1 when the lease was held (ack deletes the message, bury moves it to the DLQ), else 0.
extern const RedisScript kFinish;
// ARGV: prefix, seq, attempt, retry at, now, mode ('retry' | 'release'), error.
extern const RedisScript kRequeue;
// ARGV: prefix, now, max, holder. That holder's leases whose deadline passed, soonest first.
extern const RedisScript kExpired;
// ARGV: prefix, this holder, now. Leases of holders whose liveness key is gone become ready.
extern const RedisScript kReclaim;
// ARGV: prefix, name, is topic ('1'/'0'). Returns {ready, delayed, leased, dead}.
extern const RedisScript kCounts;
// ARGV: prefix. Returns {queue, topic, ready, delayed, leased, dead, ...} for every queue.
extern const RedisScript kSummaries;
// ARGV: prefix, name, is topic, offset, limit. Dead messages in enqueue order.
extern const RedisScript kDead;
// ARGV: prefix, name, is topic, now, mode, message id or page size. Mode 'all': up to `page` dead
// messages of each queue of the scope back to ready (oldest first); 'redrive' | 'discard': the one
// with that id. Returns how many.
extern const RedisScript kDeadLetters;

}  // namespace iii::redis_queue_scripts
