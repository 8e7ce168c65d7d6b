#include "workers/cron/cron_lock.h"

#include <spdlog/spdlog.h>

#include "store/redis_connection.h"
#include "wire/uuid.h"

namespace iii {
namespace {

class LocalCronLock final : public CronLock {
 public:
  void claim(std::string, int64_t, std::function<void(bool)> done) override { done(true); }
};

}  // namespace

std::shared_ptr<CronLock> local_cron_lock() { return std::make_shared<LocalCronLock>(); }

RedisCronLock::RedisCronLock(std::shared_ptr<RedisPool> pool, uint64_t ttl_ms, size_t max_pending)
    : pool_(std::move(pool)), ttl_ms_(ttl_ms), max_pending_(max_pending), owner_(new_uuid()),
      thread_([this] { run(); }) {}

RedisCronLock::~RedisCronLock() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::string RedisCronLock::key_of(const std::string& job_key, int64_t tick) {
  return "iii:cron-lock:" + job_key + "|" + std::to_string(tick);
}

void RedisCronLock::claim(std::string job_key, int64_t tick, std::function<void(bool)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && pending_.size() < max_pending_) {
      pending_.push_back(Claim{key_of(job_key, tick), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  spdlog::warn("iii-cron: redis lock queue full or closing: tick {} of {} skipped", tick, job_key);
  done(false);
}

void RedisCronLock::run() {
  const std::string ttl = std::to_string(ttl_ms_);
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;  // claims still queued are dropped: the worker is going away
    Claim c = std::move(pending_.front());
    pending_.pop_front();
    lock.unlock();
    bool mine = false;
    try {
      const RedisReply r = pool_->run({"SET", c.key, owner_, "NX", "PX", ttl});
      if (r.is_error()) throw RedisError("redis " + pool_->endpoint().address() + ": " + r.str);
      mine = r.type == RedisReply::Type::kStatus;  // OK; nil when another engine holds it
      warned_ = false;
    } catch (const RedisError& e) {
      if (!warned_) spdlog::warn("iii-cron: {} (ticks are skipped until it answers)", e.what());
      warned_ = true;
    }
    c.done(mine);
    lock.lock();
  }
}

}  // namespace iii
