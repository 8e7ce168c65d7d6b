#include "workers/cron/cron_worker.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "engine/engine.h"
#include "wire/json_writer.h"
#include "store/redis_connection.h"

namespace iii {
namespace {

constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","required":["expression"],"properties":{)"
    R"("expression":{"type":"string","description":"Cron expression with seconds, in UTC: second minute hour )"
    R"(day-of-month month day-of-week [year]; day-of-week 0-7 with 0 and 7 = Sunday, or SUN-SAT"},)"
    R"("condition_function_id":{"type":"string"}}})";
constexpr const char* kTriggerCallFormat =
    R"({"type":"object","properties":{"trigger":{"const":"cron"},"job_id":{"type":"string"},)"
    R"("scheduled_time":{"type":"string","format":"date-time"},"actual_time":{"type":"string","format":"date-time"}}})";

constexpr const char* kFireRequestFormat =
    R"({"type":"object","required":["id"],"properties":{"id":{"type":"string","description":"the cron trigger's id"}}})";

// iii::cron::fire {"id"} → {"id","status":"ran"|"skipped","result"} (docs/builtins.md §4.2).
void fire_job(const std::weak_ptr<CronScheduler>& weak, const InProcessCall& call, Completion done) {
  boost::system::error_code ec;
  const boost::json::value input = boost::json::parse(call.data, ec);
  const boost::json::value* id = !ec && input.is_object() ? input.get_object().if_contains("id") : nullptr;
  if (!id || !id->is_string())
    return done(Outcome::failure(codes::kDeserializationError, "`id` (string, the cron trigger's id) is required"));
  auto scheduler = weak.lock();
  if (!scheduler) return done(Outcome::failure("NOT_FOUND", "iii-cron is shutting down"));
  const std::string job(id->get_string());
  const bool found = scheduler->fire_now(job, [job, done](FireStatus status, Outcome outcome) {
    if (status == FireStatus::kConditionFailed || !outcome.ok()) {
      if (!outcome.ok()) return done(std::move(outcome));
      return done(Outcome::failure("CONDITION_FAILED", "the job's condition function failed"));
    }
    std::string answer = "{\"id\":";
    append_json_string(answer, job);
    answer += status == FireStatus::kRan ? ",\"status\":\"ran\",\"result\":" : ",\"status\":\"skipped\",\"result\":";
    answer += status == FireStatus::kRan && !outcome.result.empty() ? outcome.result : std::string("null");
    answer += '}';
    done(Outcome::success(std::move(answer)));
  });
  if (!found) done(Outcome::failure("NOT_FOUND", "no cron trigger `" + job + "`"));
}

std::shared_ptr<CronLock> lock_for(const CronConfig& config) {
  if (config.redis_url.empty()) return local_cron_lock();
  return std::make_shared<RedisCronLock>(std::make_shared<RedisPool>(RedisEndpoint::parse(config.redis_url), 2),
                                         config.lock_ttl_ms);
}

class CronWorker final : public BuiltinWorker {
 public:
  CronWorker(Engine& engine, CronConfig config, WallClock wall_clock)
      : config_(std::move(config)),
        scheduler_(std::make_shared<CronScheduler>(engine, std::move(wall_clock), lock_for(config_))),
        endpoint_(std::make_shared<InProcessWorker>(engine, kCronWorkerName)),
        ticker_(engine) {
    endpoint_->add_trigger_type(
        TriggerTypeSpec{"cron", "Cron-based scheduled triggers", kTriggerConfigFormat, kTriggerCallFormat},
        weakly_served(scheduler_, kCronWorkerName));
    endpoint_->add_function(FunctionSpec{"iii::cron::fire", "Fire a cron job now, outside its schedule", kFireRequestFormat,
                                         {}, {}},
                            [weak = std::weak_ptr<CronScheduler>(scheduler_)](const InProcessCall& call, Completion done) {
                              fire_job(weak, call, std::move(done));
                            });
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    ticker_.start([weak = std::weak_ptr<CronScheduler>(scheduler_)](Clock::time_point) {
      if (auto s = weak.lock()) s->tick();
    });
    scheduler_->set_running(true);
    spdlog::info("iii-cron: scheduling in UTC ({} job(s) active{})", scheduler_->size(),
                 config_.redis_url.empty() ? ""
                                           : "; each tick run once by the engines on redis " +
                                                 RedisEndpoint::parse(config_.redis_url).address());
  }

  void stop() override {
    scheduler_->set_running(false);
    ticker_.stop();
  }

 private:
  const CronConfig config_;
  std::shared_ptr<CronScheduler> scheduler_;
  std::shared_ptr<InProcessWorker> endpoint_;
  WorkerTicker ticker_;
};

}  // namespace

BuiltinDescriptor cron_builtin() {
  return {kCronWorkerName, {"cron"}, [](BuiltinContext& context, const boost::json::value& config) {
            return make_cron_worker(context.engine, parse_cron_config(config), std::chrono::system_clock::now);
          }};
}

std::unique_ptr<BuiltinWorker> make_cron_worker(Engine& engine, CronConfig config, WallClock wall_clock) {
  return std::make_unique<CronWorker>(engine, std::move(config), std::move(wall_clock));
}

}  // namespace iii
