#include "workers/queue/queue_dispatcher.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <vector>

#include "engine/engine.h"

namespace iii {
namespace {

std::string describe(const ErrorBody& e) { return e.code + ": " + e.message; }

}  // namespace

int64_t queue_wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

QueueDispatcher::QueueDispatcher(Engine& engine, QueueClock clock) : engine_(engine), clock_(std::move(clock)) {}

void QueueDispatcher::open(std::shared_ptr<QueueStore> store) {
  const size_t recovered = store->recover(clock_());  // throws QueueStoreError
  // Another engine's enqueue into a shared store starts this engine's consumers at once.
  store->watch_ready([weak = weak_from_this()](std::string_view queue) {
    if (auto self = weak.lock()) self->wake(queue);
  });
  if (recovered) spdlog::info("iii-queue: {} message(s) in flight when the engine stopped are queued again", recovered);
  std::vector<ConsumerPtr> consumers;
  {
    std::lock_guard lock(mu_);
    store_ = std::move(store);
    closed_ = false;
    opened_at_ms_ = clock_();
    for (const auto& [queue, c] : consumers_) consumers.push_back(c);
  }
  for (const ConsumerPtr& c : consumers) pump(c);  // consumers declared before the store opened
}

void QueueDispatcher::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

std::shared_ptr<QueueStore> QueueDispatcher::store() const {
  std::lock_guard lock(mu_);
  return closed_ ? nullptr : store_;
}

QueueDispatcher::ConsumerPtr QueueDispatcher::find(std::string_view queue) const {
  auto it = consumers_.find(queue);
  return it == consumers_.end() ? nullptr : it->second;
}

void QueueDispatcher::set_consumer(const std::string& queue, const QueueSettings& settings, ConsumerTarget target) {
  ConsumerPtr c;
  {
    std::lock_guard lock(mu_);
    c = find(queue);
    if (!c) {
      c = consumers_.emplace(queue, std::make_shared<Consumer>()).first->second;
      c->queue = queue;  // never changes afterwards: read without the lock
    }
    c->settings = settings;
    c->target = std::move(target);
    if (c->target.binding) c->target.binding->metadata.clear();
    c->active = true;
  }
  pump(c);  // stored messages resume at once
}

void QueueDispatcher::remove_consumer(const std::string& queue) {
  std::lock_guard lock(mu_);
  if (ConsumerPtr c = find(queue)) c->active = false;
}

size_t QueueDispatcher::in_flight(std::string_view queue) const {
  std::lock_guard lock(mu_);
  ConsumerPtr c = find(queue);
  return c ? c->in_flight.size() : 0;
}

void QueueDispatcher::wake(std::string_view queue) {
  ConsumerPtr c;
  {
    std::lock_guard lock(mu_);
    c = find(queue);
  }
  if (c) pump(c);
}

int64_t QueueDispatcher::lease_ms(const ConsumerTarget& target) const {
  const int64_t calls = target.condition_function_id.empty() ? 1 : 2;
  return calls * static_cast<int64_t>(engine_.options().invocation_timeout.count()) + kLeaseMarginMs;
}

void QueueDispatcher::pump(const ConsumerPtr& c) {
  {
    std::lock_guard lock(mu_);
    if (c->pumping) {
      c->again = true;
      return;
    }
    c->pumping = true;
    c->rounds = 0;
  }
  request_lease(c);
}

void QueueDispatcher::request_lease(const ConsumerPtr& c) {
  std::shared_ptr<QueueStore> store;
  size_t want = 0;
  bool fifo = false;
  int64_t until = 0;
  {
    std::lock_guard lock(mu_);
    c->again = false;
    const size_t limit = c->settings.concurrency;
    if (!closed_ && store_ && c->active && c->in_flight.size() < limit) {
      store = store_;
      want = limit - c->in_flight.size();
      fifo = c->settings.fifo;
      until = clock_() + lease_ms(c->target);
    }
  }
  if (!store) return leased(c, QueueResult<std::vector<QueueMessage>>{std::vector<QueueMessage>{}, {}});
  // Answered once the lease is committed: on the store's writer thread, or here and now.
  store->lease_async(c->queue, want, fifo, until,
                     [self = shared_from_this(), c](QueueResult<std::vector<QueueMessage>> r) { self->leased(c, std::move(r)); });
}

void QueueDispatcher::leased(const ConsumerPtr& c, QueueResult<std::vector<QueueMessage>> r) {
  if (!r.ok()) store_failures_.failed("cannot lease from " + c->queue + ": " + r.error);
  std::vector<QueueMessage> batch = r.ok() ? std::move(*r.value) : std::vector<QueueMessage>{};
  ConsumerTarget target;
  {
    std::lock_guard lock(mu_);
    for (const QueueMessage& m : batch) c->in_flight[m.seq] = m.attempt;
    target = c->target;
  }
  for (const QueueMessage& m : batch) deliver(c, target, m);
  {
    std::lock_guard lock(mu_);
    if (!c->again) {
      c->pumping = false;
      return;
    }
    if (++c->rounds == kMaxRoundsPerPump) {  // answers keep coming back at once: leave the rest to the next tick
      c->pumping = false;
      c->next_poll_ms = 0;
      return;
    }
  }
  request_lease(c);
}

void QueueDispatcher::deliver(const ConsumerPtr& c, const ConsumerTarget& target, const QueueMessage& m) {
  Lease lease{m.seq, m.attempt, m.message_id};
  auto self = shared_from_this();
  if (target.binding) {
    engine_.fire(*target.binding, target.condition_function_id, m.data,
                 [self, c, lease, condition = target.condition_function_id](FireStatus status, Outcome o) {
                   if (status == FireStatus::kSkipped) return self->finish(c, lease, std::nullopt);
                   if (status == FireStatus::kConditionFailed && o.error)
                     o.error->message = "condition " + condition + " failed: " + o.error->message;
                   self->finish(c, lease, o.error);
                 },
                 m.traceparent);
    return;
  }
  // Every attempt continues the trace the message was enqueued in (docs/observability.md).
  engine_.invoke(
      m.function_id, m.data, {}, [self, c, lease](Outcome o) { self->finish(c, lease, o.error); },
      CallContext{"queue", m.traceparent, m.baggage});
}

void QueueDispatcher::finish(const ConsumerPtr& c, const Lease& lease, const std::optional<ErrorBody>& error) {
  QueueSettings settings;
  {
    std::lock_guard lock(mu_);
    auto it = c->in_flight.find(lease.seq);
    if (it == c->in_flight.end() || it->second != lease.attempt) return;  // its lease expired meanwhile
    c->in_flight.erase(it);
    settings = c->settings;
  }
  settle(c->queue, settings, lease, error);
  pump(c);
}

void QueueDispatcher::settle(const std::string& queue, const QueueSettings& settings, const Lease& lease,
                             const std::optional<ErrorBody>& error) {
  std::shared_ptr<QueueStore> store;
  int64_t opened_at = 0;
  {
    std::lock_guard lock(mu_);
    store = store_;  // also after close(): answers of deliveries in flight are still recorded
    opened_at = opened_at_ms_;
  }
  if (!store) return;
  const int64_t now = clock_();
  QueueSettlement s{QueueSettlement::Kind::kAck, lease.seq, lease.attempt, {}, 0, now};
  std::string log;  // what to say once the outcome is recorded
  if (error) {
    s.error = describe(*error);
    if (error->code == codes::kFunctionNotFound && now < opened_at + kStartupGraceMs) {
      s.kind = QueueSettlement::Kind::kRelease;  // its worker may still be reconnecting
      s.retry_at_ms = now + kNotFoundRetryMs;
    } else if (lease.attempt >= settings.max_attempts) {
      s.kind = QueueSettlement::Kind::kBury;
      log = "message " + lease.message_id + " of " + queue + " failed " + std::to_string(lease.attempt) +
            " time(s), moved to the dead-letter queue: " + s.error;
    } else {
      const uint64_t delay = backoff_delay_ms(settings.backoff_ms, lease.attempt);
      s.kind = QueueSettlement::Kind::kRetry;
      s.retry_at_ms = now + static_cast<int64_t>(delay);
      log = "message " + lease.message_id + " of " + queue + " failed (attempt " + std::to_string(lease.attempt) +
            "), retry in " + std::to_string(delay) + " ms: " + s.error;
    }
  }
  const QueueSettlement::Kind kind = s.kind;
  store->settle_async(std::move(s), [self = shared_from_this(), kind, log = std::move(log), id = lease.message_id,
                                     queue](QueueResult<bool> r) {
    if (!r.ok()) {
      // The message stays leased; when the lease expires it is retried, so nothing is lost.
      self->store_failures_.failed("cannot record the outcome of message " + id + " of " + queue + ": " + r.error);
    } else if (*r.value && kind == QueueSettlement::Kind::kBury) {
      spdlog::warn("iii-queue: {}", log);
    } else if (*r.value && kind == QueueSettlement::Kind::kRetry) {
      spdlog::debug("iii-queue: {}", log);
    }
  });
}

void QueueDispatcher::tick() {
  std::shared_ptr<QueueStore> store = this->store();
  if (!store) return;
  {
    std::lock_guard lock(mu_);
    if (tick_queued_) return;  // the previous tick has not run yet: one at a time
    tick_queued_ = true;
  }
  // The scans and promotions are store work: where the store does it (its writer thread), not on
  // the engine's timer thread.
  const bool queued = store->run_async([weak = weak_from_this(), store] {
    if (auto self = weak.lock()) self->tick_store(*store);
  });
  if (!queued) {
    std::lock_guard lock(mu_);
    tick_queued_ = false;
  }
}

void QueueDispatcher::tick_store(QueueStore& store) {
  {
    std::lock_guard lock(mu_);
    tick_queued_ = false;
  }
  const int64_t now = clock_();
  std::vector<QueueMessage> expired;
  try {
    store.promote_due(now);
    expired = store.expired(now, kExpiredBatch);
    store_failures_.succeeded();
  } catch (const QueueStoreError& e) {
    store_failures_.failed(e.what());
  }
  for (const QueueMessage& m : expired) {
    ConsumerPtr c;
    QueueSettings settings;
    int64_t waited = 0;
    {
      std::lock_guard lock(mu_);
      c = find(m.queue);
      if (c) {
        if (auto it = c->in_flight.find(m.seq); it != c->in_flight.end() && it->second == m.attempt) c->in_flight.erase(it);
        settings = c->settings;
        waited = lease_ms(c->target);
      }
    }
    ErrorBody error{"lease_expired",
                    "no answer within the lease" + (waited ? " of " + std::to_string(waited) + " ms" : std::string()) +
                        " (the delivery was lost)",
                    std::nullopt};
    settle(m.queue, settings, Lease{m.seq, m.attempt, m.message_id}, error);
  }
  std::vector<ConsumerPtr> due;
  {
    std::lock_guard lock(mu_);
    for (auto it = consumers_.begin(); it != consumers_.end();) {
      ConsumerPtr& c = it->second;
      if (!c->active && c->in_flight.empty() && !c->pumping) {
        it = consumers_.erase(it);
        continue;
      }
      if (c->active && c->next_poll_ms <= now) {
        c->next_poll_ms = now + static_cast<int64_t>(c->settings.poll_interval_ms);
        due.push_back(c);
      }
      ++it;
    }
  }
  for (const ConsumerPtr& c : due) pump(c);
}

}  // namespace iii
