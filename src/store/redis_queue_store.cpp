#include "store/redis_queue_store.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <tuple>

#include "store/redis_queue_scripts.h"
#include "store/redis_script.h"
#include "store/redis_subscriber.h"
#include "wire/uuid.h"

namespace iii {
namespace scripts = redis_queue_scripts;

namespace {

int64_t to_int(std::string_view text) {
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

int64_t integer_of(const RedisReply& r) {
  return r.type == RedisReply::Type::kInteger ? static_cast<int64_t>(r.integer) : to_int(r.str);
}

// A message as kRead returns it: {seq, queue, topic, id, function, data, group, traceparent,
// baggage, attempts, last error}.
QueueMessage message_of(RedisReply& r) {
  QueueMessage m;
  if (r.elements.size() != 11) return m;
  auto& e = r.elements;
  m.seq = integer_of(e[0]);
  m.queue = std::move(e[1].str), m.topic = std::move(e[2].str), m.message_id = std::move(e[3].str);
  m.function_id = std::move(e[4].str), m.data = std::move(e[5].str);
  if (e[6].type == RedisReply::Type::kString) m.group = std::move(e[6].str);
  m.traceparent = std::move(e[7].str), m.baggage = std::move(e[8].str);
  m.attempt = static_cast<uint32_t>(integer_of(e[9]));
  m.last_error = std::move(e[10].str);
  return m;
}

std::vector<QueueMessage> messages_of(RedisReply& r) {
  std::vector<QueueMessage> out;
  out.reserve(r.elements.size());
  for (RedisReply& e : r.elements) {
    QueueMessage m = message_of(e);
    if (m.seq) out.push_back(std::move(m));  // the scripts read each message atomically; 0: a malformed reply
  }
  return out;
}

const char* flag(bool b) { return b ? "1" : "0"; }

// kEnqueue's ARGV after the prefix: the time, then nine fields per message (views into `messages`).
std::vector<std::string_view> enqueue_args(std::span<const NewQueueMessage> messages, const std::string& now) {
  std::vector<std::string_view> args{now};
  args.reserve(1 + messages.size() * 9);
  for (const NewQueueMessage& m : messages) {
    args.insert(args.end(), {m.queue, m.topic, m.message_id, m.function_id, m.data, flag(m.group.has_value()),
                             m.group ? std::string_view(*m.group) : std::string_view(), m.traceparent, m.baggage});
  }
  return args;
}

}  // namespace

RedisQueueStore::RedisQueueStore(std::shared_ptr<RedisPool> pool, Options options)
    : pool_(std::move(pool)),
      client_(std::make_shared<RedisClient>(pool_->endpoint(), RedisClientOptions{.loops = options.loops})),
      prefix_(std::move(options.prefix)),
      holder_(new_uuid() + "/" + std::to_string(::getpid())), holder_ttl_(options.holder_ttl) {
  renew_liveness();
}

RedisQueueStore::~RedisQueueStore() {
  ready_.reset();  // no more callbacks
  try {
    pool_->run({"DEL", prefix_ + "live:" + holder_});
  } catch (const RedisError&) {
    // Unreachable: the key expires by itself, and the leases are reclaimed then.
  }
}

void RedisQueueStore::watch_ready(std::function<void(std::string_view queue)> fn) {
  ready_ = std::make_unique<RedisSubscriber>(pool_->endpoint(),
                                             [fn = std::move(fn)](std::string_view, std::string_view queue) { fn(queue); });
  ready_->subscribe(prefix_ + "ready");
}

RedisReply RedisQueueStore::run(const RedisScript& script, std::vector<std::string_view> args) {
  args.insert(args.begin(), prefix_);
  try {
    return run_script(*pool_, script, {}, args);
  } catch (const RedisError& e) {
    throw QueueStoreError(e.what());
  }
}

void RedisQueueStore::run_async(const RedisScript& script, std::vector<std::string_view> args,
                                std::function<void(std::string error, RedisReply reply)> done) {
  args.insert(args.begin(), prefix_);
  {
    std::lock_guard lock(in_flight_->mu);
    ++in_flight_->count;
  }
  run_script_async(client_, script, {}, args, [in_flight = in_flight_, done = std::move(done)](std::exception_ptr e, RedisReply r) {
    std::string error;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        error = x.what();
      }
    }
    try {
      done(std::move(error), std::move(r));
    } catch (...) {  // the caller's completion failed: its own business; the count must still go down
    }
    std::lock_guard lock(in_flight->mu);
    if (--in_flight->count == 0) in_flight->idle.notify_all();
  });
}

bool RedisQueueStore::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(in_flight_->mu);
  return in_flight_->idle.wait_for(lock, timeout, [&] { return in_flight_->count == 0; });
}

void RedisQueueStore::enqueue_async(std::vector<NewQueueMessage> messages, int64_t now_ms, QueueDone<size_t> done) {
  if (messages.empty()) return done(QueueResult<size_t>{size_t{0}, {}});
  const std::string now = std::to_string(now_ms);
  std::vector<std::string_view> args = enqueue_args(messages, now);
  run_async(scripts::kEnqueue, std::move(args), [done = std::move(done)](std::string error, RedisReply r) {
    QueueResult<size_t> result;
    if (error.empty()) result.value = static_cast<size_t>(integer_of(r));
    else result.error = std::move(error);
    done(std::move(result));
  });
}

void RedisQueueStore::lease_async(std::string queue, size_t max, bool fifo, int64_t lease_until_ms,
                                  QueueDone<std::vector<QueueMessage>> done) {
  if (max == 0) return done(QueueResult<std::vector<QueueMessage>>{std::vector<QueueMessage>{}, {}});
  const std::string n = std::to_string(max), until = std::to_string(lease_until_ms),
                    scan = std::to_string(kFifoScanLimit);
  run_async(scripts::kLease, {queue, n, flag(fifo), until, holder_, scan},
            [done = std::move(done)](std::string error, RedisReply r) {
              QueueResult<std::vector<QueueMessage>> result;
              if (error.empty()) result.value = messages_of(r);
              else result.error = std::move(error);
              done(std::move(result));
            });
}

void RedisQueueStore::settle_async(QueueSettlement s, QueueDone<bool> done) {
  const std::string seq = std::to_string(s.seq), attempt = std::to_string(s.attempt),
                    at = std::to_string(s.retry_at_ms), now = std::to_string(s.now_ms);
  auto answer = [done = std::move(done)](std::string error, RedisReply r) {
    QueueResult<bool> result;
    if (error.empty()) result.value = integer_of(r) == 1;
    else result.error = std::move(error);
    done(std::move(result));
  };
  // The same scripts and arguments as ack, retry, release and bury.
  switch (s.kind) {
    case QueueSettlement::Kind::kAck: return run_async(scripts::kFinish, {seq, attempt, "ack"}, std::move(answer));
    case QueueSettlement::Kind::kRetry:
      return run_async(scripts::kRequeue, {seq, attempt, at, now, "retry", s.error}, std::move(answer));
    case QueueSettlement::Kind::kRelease:
      return run_async(scripts::kRequeue, {seq, attempt, at, now, "release", ""}, std::move(answer));
    case QueueSettlement::Kind::kBury:
      return run_async(scripts::kFinish, {seq, attempt, "bury", s.error, now}, std::move(answer));
  }
  answer("redis queue store: an unknown kind of settlement", {});  // every call is answered
}

void RedisQueueStore::renew_liveness() {
  const std::string ttl = std::to_string(holder_ttl_.count());
  try {
    for (const RedisReply& r : pool_->pipeline({{"SET", prefix_ + "live:" + holder_, "1", "PX", ttl},
                                                {"SADD", prefix_ + "holders", holder_}})) {
      if (r.is_error()) throw QueueStoreError("redis " + pool_->endpoint().address() + ": " + r.str);
    }
  } catch (const RedisError& e) {
    std::lock_guard lock(upkeep_mu_);
    live_since_.reset();
    throw QueueStoreError(e.what());
  } catch (const QueueStoreError&) {
    std::lock_guard lock(upkeep_mu_);
    live_since_.reset();
    throw;
  }
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(upkeep_mu_);
  // A renewal more than holder_ttl after the previous one: our key may have expired in between.
  if (!live_since_ || now - renewed_ok_at_ > holder_ttl_) live_since_ = now;
  renewed_ok_at_ = now;
}

size_t RedisQueueStore::enqueue(std::span<const NewQueueMessage> messages, int64_t now_ms) {
  if (messages.empty()) return 0;
  const std::string now = std::to_string(now_ms);
  std::vector<std::string_view> args = enqueue_args(messages, now);
  return static_cast<size_t>(integer_of(run(scripts::kEnqueue, std::move(args))));
}

size_t RedisQueueStore::promote_due(int64_t now_ms) {
  const auto steady = std::chrono::steady_clock::now();
  bool renew = false, reclaim = false;
  {
    std::lock_guard lock(upkeep_mu_);
    if (steady - renewed_at_ >= holder_ttl_ / 5) renewed_at_ = steady, renew = true;
    if (steady - reclaimed_at_ >= kReclaimEvery) reclaimed_at_ = steady, reclaim = true;
  }
  if (renew) renew_liveness();
  if (reclaim) recover(now_ms);
  const std::string now = std::to_string(now_ms), limit = std::to_string(kPromoteBatch);
  size_t total = 0;
  for (int round = 0; round < 16; ++round) {  // bounded: the rest waits for the next tick
    const size_t n = static_cast<size_t>(integer_of(run(scripts::kPromoteDue, {now, limit})));
    total += n;
    if (n < kPromoteBatch) break;
  }
  return total;
}

std::vector<QueueMessage> RedisQueueStore::lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms) {
  if (max == 0) return {};
  const std::string n = std::to_string(max), until = std::to_string(lease_until_ms),
                    scan = std::to_string(kFifoScanLimit);
  RedisReply r = run(scripts::kLease, {queue, n, flag(fifo), until, holder_, scan});
  return messages_of(r);
}

bool RedisQueueStore::ack(int64_t seq, uint32_t attempt) {
  const std::string s = std::to_string(seq), a = std::to_string(attempt);
  return integer_of(run(scripts::kFinish, {s, a, "ack"})) == 1;
}

bool RedisQueueStore::retry(int64_t seq, uint32_t attempt, std::string_view error, int64_t retry_at_ms, int64_t now_ms) {
  const std::string s = std::to_string(seq), a = std::to_string(attempt), at = std::to_string(retry_at_ms),
                    now = std::to_string(now_ms);
  return integer_of(run(scripts::kRequeue, {s, a, at, now, "retry", error})) == 1;
}

bool RedisQueueStore::release(int64_t seq, uint32_t attempt, int64_t retry_at_ms, int64_t now_ms) {
  const std::string s = std::to_string(seq), a = std::to_string(attempt), at = std::to_string(retry_at_ms),
                    now = std::to_string(now_ms);
  return integer_of(run(scripts::kRequeue, {s, a, at, now, "release", ""})) == 1;
}

bool RedisQueueStore::bury(int64_t seq, uint32_t attempt, std::string_view error, int64_t now_ms) {
  const std::string s = std::to_string(seq), a = std::to_string(attempt), now = std::to_string(now_ms);
  return integer_of(run(scripts::kFinish, {s, a, "bury", error, now})) == 1;
}

std::vector<QueueMessage> RedisQueueStore::expired(int64_t now_ms, size_t max) {
  const std::string now = std::to_string(now_ms), n = std::to_string(max);
  RedisReply r = run(scripts::kExpired, {now, n, holder_});
  return messages_of(r);
}

size_t RedisQueueStore::recover(int64_t now_ms) {
  {
    // After Redis was unreachable for a while every holder's key may have expired, live ones
    // included: reclaim only once this store has renewed without a break for a whole holder_ttl,
    // by which time every live holder has renewed too.
    std::lock_guard lock(upkeep_mu_);
    if (!live_since_ || std::chrono::steady_clock::now() - *live_since_ < holder_ttl_) return 0;
  }
  const std::string now = std::to_string(now_ms);
  return static_cast<size_t>(integer_of(run(scripts::kReclaim, {holder_, now})));
}

QueueCounts RedisQueueStore::counts(const QueueScope& scope) {
  const RedisReply r = run(scripts::kCounts, {scope.name, flag(scope.is_topic)});
  QueueCounts c;
  if (r.elements.size() == 4) {
    c.ready = static_cast<uint64_t>(integer_of(r.elements[0]));
    c.delayed = static_cast<uint64_t>(integer_of(r.elements[1]));
    c.leased = static_cast<uint64_t>(integer_of(r.elements[2]));
    c.dead = static_cast<uint64_t>(integer_of(r.elements[3]));
  }
  return c;
}

std::vector<QueueSummary> RedisQueueStore::summaries() {
  RedisReply r = run(scripts::kSummaries, {});
  std::vector<QueueSummary> out;
  for (size_t i = 0; i + 6 <= r.elements.size(); i += 6) {
    auto& e = r.elements;
    QueueSummary s{std::move(e[i].str), std::move(e[i + 1].str), {}};
    s.counts.ready = static_cast<uint64_t>(integer_of(e[i + 2]));
    s.counts.delayed = static_cast<uint64_t>(integer_of(e[i + 3]));
    s.counts.leased = static_cast<uint64_t>(integer_of(e[i + 4]));
    s.counts.dead = static_cast<uint64_t>(integer_of(e[i + 5]));
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const QueueSummary& a, const QueueSummary& b) { return std::tie(a.queue, a.topic) < std::tie(b.queue, b.topic); });
  return out;
}

std::vector<DeadMessage> RedisQueueStore::dead(const QueueScope& scope, size_t offset, size_t limit) {
  if (limit == 0) return {};
  const std::string off = std::to_string(offset), lim = std::to_string(limit);
  RedisReply r = run(scripts::kDead, {scope.name, flag(scope.is_topic), off, lim});
  std::vector<DeadMessage> out;
  for (RedisReply& m : r.elements) {
    if (m.elements.size() != 8) continue;
    auto& e = m.elements;
    out.push_back(DeadMessage{std::move(e[0].str), std::move(e[1].str), std::move(e[2].str), std::move(e[3].str),
                              std::move(e[4].str), std::move(e[5].str), integer_of(e[6]),
                              static_cast<uint32_t>(integer_of(e[7]))});
  }
  return out;
}

size_t RedisQueueStore::redrive(const QueueScope& scope, int64_t now_ms) {
  // In pages, so that a large dead-letter queue never holds Redis (and every engine) for long.
  const std::string now = std::to_string(now_ms), page = std::to_string(kRedrivePage);
  size_t total = 0;
  for (;;) {
    const auto n = static_cast<size_t>(integer_of(run(scripts::kDeadLetters, {scope.name, flag(scope.is_topic), now, "all", page})));
    total += n;
    if (n == 0) return total;
  }
}

bool RedisQueueStore::redrive_message(const QueueScope& scope, std::string_view message_id, int64_t now_ms) {
  const std::string now = std::to_string(now_ms);
  return integer_of(run(scripts::kDeadLetters, {scope.name, flag(scope.is_topic), now, "redrive", message_id})) > 0;
}

bool RedisQueueStore::discard(const QueueScope& scope, std::string_view message_id) {
  return integer_of(run(scripts::kDeadLetters, {scope.name, flag(scope.is_topic), "0", "discard", message_id})) > 0;
}

}  // namespace iii
