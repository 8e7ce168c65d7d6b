#include "workers/cron/cron_scheduler.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <cstdio>
#include <vector>

#include "wire/json_writer.h"
#include "engine/engine.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;
using namespace std::chrono;

ErrorBody rejection(std::string message) {
  return ErrorBody{codes::kTriggerRegistrationFailed, std::move(message), std::nullopt};
}

// A tick this far before the previous one means the wall clock was set back.
constexpr seconds kClockStepBack{1};

}  // namespace

CronScheduler::CronScheduler(Engine& engine, WallClock wall_clock, std::shared_ptr<CronLock> lock)
    : engine_(engine), wall_clock_(std::move(wall_clock)), lock_(std::move(lock)) {}

std::optional<ErrorBody> CronScheduler::activate(const TriggerBinding& binding) {
  std::string parse_error;
  std::optional<json::value> config = json_text::parse(binding.config.empty() ? "null" : binding.config, &parse_error);
  if (!config) return rejection("Invalid cron trigger config: not valid JSON: " + parse_error);
  if (!config->is_null() && !config->is_object())
    return rejection(std::string("Invalid cron trigger config: expected an object, got ") + json_text::type_name(*config));
  const json::object empty;
  const json::object& o = config->is_object() ? config->get_object() : empty;

  const json::value* expression = o.if_contains("expression");
  if (!expression || expression->is_null() || (expression->is_string() && expression->get_string().empty()))
    return rejection("Cron expression is required");
  if (!expression->is_string())
    return rejection(std::string("Invalid cron trigger config: `expression` must be a string, got ") +
                     json_text::type_name(*expression));
  std::string condition;
  if (const json::value* c = o.if_contains("condition_function_id"); c && !c->is_null()) {
    if (!c->is_string())
      return rejection(std::string("Invalid cron trigger config: `condition_function_id` must be a string, got ") +
                       json_text::type_name(*c));
    condition = std::string(c->get_string());
  }

  const std::string text(expression->get_string());
  std::string error;
  std::optional<CronExpression> parsed = CronExpression::parse(text, &error);
  if (!parsed) return rejection("Invalid cron expression '" + text + "': " + error);
  const system_clock::time_point now = wall_clock_();
  std::optional<sys_seconds> next = parsed->next_after(now);
  if (!next)
    return rejection("Invalid cron expression '" + text + "': it never fires (no matching time after " +
                     format_rfc3339(now) + ")");

  Job job{binding, std::move(condition), *parsed, next, 0, binding.function_id + "|" + text};
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(binding.id);
    if (it != jobs_.end()) {
      job.run_in_flight = it->second.run_in_flight;  // a run of this id may still be going
      it->second = std::move(job);
    } else {
      jobs_.emplace(binding.id, std::move(job));
    }
  }
  spdlog::info("cron job {} ({}) → {}, next at {}", binding.id, text, binding.function_id, format_rfc3339(*next));
  return std::nullopt;
}

void CronScheduler::deactivate(const TriggerBinding& binding) {
  std::lock_guard lock(mu_);
  if (jobs_.erase(binding.id)) spdlog::info("cron job {} removed", binding.id);
}

void CronScheduler::set_running(bool running) {
  std::lock_guard lock(mu_);
  running_ = running;
  last_tick_.reset();
}

size_t CronScheduler::size() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

std::optional<sys_seconds> CronScheduler::next_fire(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  return it == jobs_.end() ? std::nullopt : it->second.next;
}

void CronScheduler::tick() {
  struct Claim {
    Due due;
    std::string job_key;
    int64_t tick;
  };
  std::vector<Claim> claims;
  const system_clock::time_point now = wall_clock_();
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    const bool stepped_back = last_tick_ && now + kClockStepBack < *last_tick_;
    last_tick_ = now;
    for (auto& [id, job] : jobs_) {
      if (stepped_back) job.next = job.expression.next_after(now);
      if (!job.next || now < *job.next) continue;
      const sys_seconds scheduled = *job.next;
      // From now, not from `scheduled`: ticks missed during a stall are not replayed.
      job.next = job.expression.next_after(now);
      if (!job.next) spdlog::info("cron job {} has no fire time left after this one", id);
      if (job.run_in_flight) {
        spdlog::debug("cron job {}: previous run still in flight, tick {} skipped", id, format_rfc3339(scheduled));
        continue;
      }
      job.run_in_flight = ++last_run_;
      claims.push_back(Claim{Due{job.binding, job.condition_function_id, cron_event_payload(id, scheduled, now),
                                 job.run_in_flight},
                             job.job_key, scheduled.time_since_epoch().count()});
    }
  }
  for (Claim& c : claims) {
    const int64_t tick = c.tick;
    lock_->claim(std::move(c.job_key), tick, [weak = weak_from_this(), due = std::move(c.due)](bool mine) mutable {
      auto self = weak.lock();
      if (!self) return;
      if (mine) return self->run_due(std::move(due));
      spdlog::debug("cron job {}: tick claimed by another engine", due.binding.id);
      self->finished(due.binding.id, due.run);
    });
  }
}

void CronScheduler::run_due(Due d) {
  spdlog::debug("cron job {} → {}", d.binding.id, d.binding.function_id);
  engine_.fire(d.binding, d.condition_function_id, std::move(d.payload),
               [weak = weak_from_this(), id = d.binding.id, target = d.binding.function_id, run = d.run](
                   FireStatus status, Outcome outcome) {
                 if (status == FireStatus::kRan && !outcome.ok())
                   spdlog::warn("cron job {} → {} failed: {}: {}", id, target, outcome.error->code,
                                outcome.error->message);
                 if (auto self = weak.lock()) self->finished(id, run);
               });
}

bool CronScheduler::fire_now(std::string_view id, std::function<void(FireStatus, Outcome)> done) {
  TriggerBinding binding;
  std::string condition;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return false;
    binding = it->second.binding;
    condition = it->second.condition_function_id;
  }
  const auto now = wall_clock_();
  spdlog::info("cron job {} → {} fired by hand", binding.id, binding.function_id);
  engine_.fire(binding, condition, cron_event_payload(binding.id, now, now), std::move(done));
  return true;
}

void CronScheduler::finished(const std::string& id, uint64_t run) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it != jobs_.end() && it->second.run_in_flight == run) it->second.run_in_flight = 0;
}

std::string format_rfc3339(system_clock::time_point t) {
  const sys_seconds secs = floor<seconds>(t);
  const sys_days day = floor<days>(secs);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{secs - day};
  const long long ms = duration_cast<milliseconds>(t - secs).count();
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                        static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                        static_cast<int>(hms.seconds().count()));
  if (ms != 0) n += std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), ".%03lld", ms);
  return std::string(buf, static_cast<size_t>(n)) + "+00:00";
}

std::string cron_event_payload(std::string_view job_id, system_clock::time_point scheduled,
                               system_clock::time_point actual) {
  FrameWriter w(160 + job_id.size());
  w.string("trigger", "cron");
  w.string("job_id", job_id);
  w.string("scheduled_time", format_rfc3339(scheduled));
  w.string("actual_time", format_rfc3339(actual));
  return w.finish();
}

}  // namespace iii
