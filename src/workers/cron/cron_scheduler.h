// The jobs of the `cron` trigger type (docs/builtins.md §4.3, §4.4) and when each fires next.
//
// One job per binding (job id = trigger id). The engine owns no threads, so the scheduler is
// driven by tick(), which the worker hooks to the engine's ~100 ms ticker: every job whose next
// fire time has come is fired through Engine::fire (condition first, then the target, with the
// binding's metadata) with
//   {"trigger":"cron","job_id":..,"scheduled_time":"<RFC 3339>","actual_time":"<RFC 3339>"}
//
// Guarantees:
// - runs of one job never overlap: while a run (condition + handler) is in flight, the job's
//   ticks are skipped, not queued. The engine's invocation deadline bounds a run.
// - no catch-up: after a stall (engine paused, clock jumped forward) a due job fires once, and
//   its next fire time is computed from now. A clock that jumps backwards reschedules every job
//   from the new now.
// - a binding is rejected at activation when its expression is missing, invalid or never fires;
//   activating an id again replaces its job (an in-flight run of that id still blocks overlap).
// - handler failures are logged, never retried.
// - several engines: each due tick is claimed through a CronLock (cron_lock.h) before it runs;
//   with the Redis lock, one engine runs it and the others skip it.
//
// Thread-safe: activation, ticks and run completions may come from any thread. The mutex is never
// held while calling into the engine.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "engine/engine.h"
#include "workers/cron/cron_expression.h"
#include "workers/cron/cron_lock.h"

namespace iii {

class Engine;

// UTC wall-clock time. Tests substitute a clock they move by hand.
using WallClock = std::function<std::chrono::system_clock::time_point()>;

class CronScheduler : public std::enable_shared_from_this<CronScheduler> {
 public:
  CronScheduler(Engine& engine, WallClock wall_clock, std::shared_ptr<CronLock> lock = local_cron_lock());

  // Validates the binding's config ({expression, condition_function_id}) and schedules it.
  std::optional<ErrorBody> activate(const TriggerBinding& binding);
  void deactivate(const TriggerBinding& binding);

  // Fires the jobs that are due now. Does nothing while stopped.
  void tick();
  void set_running(bool running);

  // Fires job `id` now, outside its schedule (iii::cron::fire, docs/builtins.md §4.2): condition,
  // then the function, with the usual payload (scheduled_time = actual_time = now). The run does
  // not touch the schedule and ignores the overlap rule. False (nothing fired) for an unknown id.
  bool fire_now(std::string_view id, std::function<void(FireStatus, Outcome)> done);

  size_t size() const;
  // When job `id` fires next (nullopt: unknown id or no fire time left).
  std::optional<std::chrono::sys_seconds> next_fire(std::string_view id) const;

 private:
  struct Job {
    TriggerBinding binding;
    std::string condition_function_id;
    CronExpression expression;
    std::optional<std::chrono::sys_seconds> next;
    uint64_t run_in_flight = 0;  // serial of the run in flight, 0 = idle
    std::string job_key;         // what the job is, for the lock: "<function id>|<expression>"
  };
  struct Due {
    TriggerBinding binding;
    std::string condition_function_id;
    std::string payload;
    uint64_t run;
  };
  void run_due(Due due);
  void finished(const std::string& id, uint64_t run);

  Engine& engine_;
  const WallClock wall_clock_;
  const std::shared_ptr<CronLock> lock_;
  mutable std::mutex mu_;
  std::map<std::string, Job, std::less<>> jobs_;  // by trigger id
  bool running_ = false;
  uint64_t last_run_ = 0;
  std::optional<std::chrono::system_clock::time_point> last_tick_;
};

// "2024-02-29T12:00:05+00:00", with ".mmm" before the offset when the milliseconds are not zero
// (the shape of chrono's to_rfc3339() that the reference engine sends).
std::string format_rfc3339(std::chrono::system_clock::time_point t);

// The payload a cron job's condition and handler receive.
std::string cron_event_payload(std::string_view job_id, std::chrono::system_clock::time_point scheduled,
                               std::chrono::system_clock::time_point actual);

}  // namespace iii
