// Who runs one tick of a cron job when several engines schedule the same binding
// (docs/redis.md "Cron on Redis").
//
// A job is named by what it is — the function it calls and its expression — not by the trigger id
// a worker registered it under, so that the same worker connected to two engines (two bindings,
// two ids) still makes one job. The local lock says yes to every claim: one engine alone never
// runs a job twice, because the scheduler skips a tick while that job's previous run is in flight.
// The Redis lock takes `iii:cron-lock:<function id>|<expression>|<tick>` with SET NX and an
// expiry: the first engine to claim a tick runs it, the others skip it.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace iii {

class RedisPool;

class CronLock {
 public:
  virtual ~CronLock() = default;
  // Decides whether this engine runs tick `tick_unix_seconds` of job `job_key` and calls
  // `done(true)` if so, `done(false)` if not — maybe later, on another thread.
  virtual void claim(std::string job_key, int64_t tick_unix_seconds, std::function<void(bool)> done) = 0;
};

// Every claim is this engine's, at once.
std::shared_ptr<CronLock> local_cron_lock();

// Claims on a Redis server, from a thread of its own (a Redis round trip must not hold up the
// engine's ticker). A claim that cannot reach Redis is not this engine's: the tick is skipped and
// a warning logged (a Redis outage stops cron rather than running every job on every engine).
// Claims waiting past `max_pending` are refused the same way.
class RedisCronLock final : public CronLock {
 public:
  RedisCronLock(std::shared_ptr<RedisPool> pool, uint64_t ttl_ms, size_t max_pending = 10000);
  ~RedisCronLock() override;  // answers nothing more; waits for the thread
  void claim(std::string job_key, int64_t tick_unix_seconds, std::function<void(bool)> done) override;

  // The Redis key of a claim.
  static std::string key_of(const std::string& job_key, int64_t tick_unix_seconds);

 private:
  struct Claim {
    std::string key;
    std::function<void(bool)> done;
  };
  void run();

  const std::shared_ptr<RedisPool> pool_;
  const uint64_t ttl_ms_;
  const size_t max_pending_;
  const std::string owner_;  // this engine, as the lock's value
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Claim> pending_;
  bool stopping_ = false;
  bool warned_ = false;  // one warning per outage
  std::thread thread_;
};

}  // namespace iii
