// The iii-cron built-in driven through a real Engine with a hand-moved UTC clock: its config
// block, registration errors, the payload, conditions, no overlapping runs, no catch-up after a
// stall, clock steps, replacement and removal of jobs.
#include "workers/cron/cron_worker.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdio>

#include "engine/engine.h"
#include "recording_endpoint.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;
using namespace std::chrono;

json::value parse(std::string_view text) {
  auto v = json_text::parse(text.empty() ? "null" : text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

system_clock::time_point at(const char* text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  std::sscanf(text, "%d-%d-%dT%d:%d:%d.%d", &y, &mo, &d, &h, &mi, &s, &ms);
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} + hours{h} + minutes{mi} +
         seconds{s} + milliseconds{ms};
}

// --- config ---

std::string config_error(std::string_view block) {
  try {
    parse_cron_config(parse(block));
  } catch (const BuiltinConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(CronConfig, DefaultsAndKvKeys) {
  EXPECT_EQ(parse_cron_config(parse("null")).lock_ttl_ms, 30000u);
  EXPECT_EQ(parse_cron_config(parse("{}")).lock_index, "cron_locks");
  CronConfig c = parse_cron_config(parse(R"({"adapter":{"name":"kv","config":{"lock_ttl_ms":5000,"lock_index":"locks",)"
                                         R"("store_method":"file_based","file_path":"./data/cron","save_interval_ms":1000}}})"));
  EXPECT_EQ(c.lock_ttl_ms, 5000u);
  EXPECT_EQ(c.lock_index, "locks");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv"}})"), "(accepted)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"lock_ttl_ms":5000.0}}})"), "(accepted)");
}

TEST(CronConfig, RejectsBadBlocks) {
  EXPECT_EQ(config_error(R"({"adaptor":{}})"), "iii-cron: unknown key `adaptor` (known keys: adapter)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"ttl":1}}})"),
            "iii-cron adapter `kv`: unknown key `ttl` (known keys: lock_ttl_ms, lock_index, store_method, file_path, "
            "save_interval_ms)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://localhost:6379"}}})"), "(accepted)");
  EXPECT_EQ(parse_cron_config(parse(R"({"adapter":{"name":"redis"}})")).redis_url, "redis://localhost:6379");
  EXPECT_NE(config_error(R"({"adapter":{"name":"redis","config":{"redis_url":"redis:/"}}})").find("adapter.config.redis_url"),
            std::string::npos);
  EXPECT_EQ(config_error(R"({"adapter":{"name":"etcd"}})"),
            "iii-cron: `adapter.name` `etcd` is not a cron adapter (supported: kv, redis)");
  EXPECT_EQ(config_error(R"({"adapter":{"config":{}}})"), "iii-cron: `adapter.name` is required (supported: kv, redis)");
  EXPECT_EQ(config_error(R"({"adapter":"kv"})"), "iii-cron: `adapter` must be a mapping {name, config}, got string");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"lock_ttl_ms":"30s"}}})"),
            "iii-cron: `adapter.config.lock_ttl_ms` must be a number, got string");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"lock_ttl_ms":0}}})"),
            "iii-cron: `adapter.config.lock_ttl_ms` must be between 1 and 86400000, got 0");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"store_method":"disk"}}})"),
            "iii-cron: `adapter.config.store_method` must be `in_memory` or `file_based`, got `disk`");
  EXPECT_EQ(config_error("[1]"), "iii-cron: `config` must be a mapping");
}

TEST(CronConfig, Descriptor) {
  BuiltinDescriptor d = cron_builtin();
  EXPECT_EQ(d.name, "iii-cron");
  EXPECT_EQ(d.aliases, std::vector<std::string>{"cron"});
  Engine engine;
  BuiltinContext context{engine, "/tmp"};
  EXPECT_THROW(d.factory(context, parse(R"({"bogus":1})")), BuiltinConfigError);
  EXPECT_TRUE(d.factory(context, parse("null")));
}

// --- the trigger type ---

class CronWorkerTest : public ::testing::Test {
 protected:
  CronWorkerTest() {
    worker = make_cron_worker(engine, CronConfig{}, [this] { return wall; });
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
    auto w = std::make_shared<InProcessWorker>(engine, "jobs");
    // test::job answers at once; test::slow answers when the test says so.
    w->add_function(FunctionSpec{"test::job", "", {}, {}, {}}, SyncFunctionHandler([this](const InProcessCall& c) {
                      calls.push_back({c.function_id, parse(c.data), c.metadata});
                      return job_result;
                    }));
    w->add_function(FunctionSpec{"test::slow", "", {}, {}, {}}, AsyncFunctionHandler([this](const InProcessCall& c, Completion done) {
                      calls.push_back({c.function_id, parse(c.data), c.metadata});
                      pending.push_back(std::move(done));
                    }));
    w->add_function(FunctionSpec{"test::condition", "", {}, {}, {}},
                    SyncFunctionHandler([this](const InProcessCall& c) {
                      condition_inputs.push_back(parse(c.data));
                      return Outcome::success(condition_result);
                    }));
    engine.add_in_process_worker(w);
  }
  ~CronWorkerTest() override { worker->stop(); }

  std::optional<ErrorBody> bind(const std::string& id, const std::string& function_id, const std::string& config,
                                const std::string& metadata = "") {
    std::optional<ErrorBody> out;
    engine.register_trigger(TriggerBinding{id, "cron", function_id, config, metadata, ""},
                            [&](std::optional<ErrorBody> e) { out = std::move(e); });
    return out;
  }
  // Moves the UTC clock to `t` in ticks of 100 ms, like the engine's timer.
  void run_until(system_clock::time_point t) {
    while (wall + milliseconds{100} <= t) {
      wall += milliseconds{100};
      engine.tick(Clock::now());
    }
    wall = t;
    engine.tick(Clock::now());
  }
  void jump_to(system_clock::time_point t) {
    wall = t;
    engine.tick(Clock::now());
  }

  struct Call {
    std::string function_id;
    json::value data;
    std::string metadata;
  };

  Engine engine{EngineOptions{milliseconds(2000), milliseconds(500), 1000}};
  system_clock::time_point wall = at("2024-01-01T00:00:00.500");
  std::unique_ptr<BuiltinWorker> worker;
  std::vector<Call> calls;
  std::vector<Completion> pending;
  std::vector<json::value> condition_inputs;
  Outcome job_result = Outcome::success("null");
  std::string condition_result = "true";
};

TEST_F(CronWorkerTest, FiresEverySecondWithThePayloadAndMetadata) {
  ASSERT_EQ(bind("job-1", "test::job", R"({"expression":"* * * * * *"})", R"({"team":"ops"})"), std::nullopt);
  run_until(at("2024-01-01T00:00:00.900"));
  EXPECT_TRUE(calls.empty());
  jump_to(at("2024-01-01T00:00:01.050"));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data, parse(R"({"trigger":"cron","job_id":"job-1","scheduled_time":"2024-01-01T00:00:01+00:00",)"
                                 R"("actual_time":"2024-01-01T00:00:01.050+00:00"})"));
  EXPECT_EQ(parse(calls[0].metadata), parse(R"({"team":"ops"})"));
  run_until(at("2024-01-01T00:00:04.000"));
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[3].data.at("scheduled_time"), "2024-01-01T00:00:04+00:00");
  EXPECT_EQ(calls[3].data.at("actual_time"), "2024-01-01T00:00:04+00:00");
}

TEST_F(CronWorkerTest, InvalidExpressionsAreRejectedAtRegistration) {
  auto rejected = [&](const std::string& config) {
    std::optional<ErrorBody> e = bind("bad", "test::job", config);
    EXPECT_TRUE(e) << config;
    if (!e) return std::string();
    EXPECT_EQ(e->code, "trigger_registration_failed");
    return e->message;
  };
  EXPECT_EQ(rejected(R"({"expression":"*/5 * * * *"})"),
            "Invalid cron expression '*/5 * * * *': expected 6 or 7 fields (second minute hour day-of-month month "
            "day-of-week [year]), got 5; classic 5-field crontab lines need a seconds field first, e.g. `0 */5 * * * *`");
  EXPECT_EQ(rejected(R"({"expression":"0 0 25 * * *"})"),
            "Invalid cron expression '0 0 25 * * *': hour (field 3): `25` is out of range 0-23 (allowed: 0-23)");
  EXPECT_EQ(rejected(R"({"expression":"0 0 0 30 2 *"})"),
            "Invalid cron expression '0 0 0 30 2 *': it never fires (no matching time after "
            "2024-01-01T00:00:00.500+00:00)");
  EXPECT_EQ(rejected(R"({"expression":""})"), "Cron expression is required");
  EXPECT_EQ(rejected("{}"), "Cron expression is required");
  EXPECT_EQ(rejected("null"), "Cron expression is required");
  EXPECT_EQ(rejected(R"({"expression":5})"), "Invalid cron trigger config: `expression` must be a string, got number");
  EXPECT_EQ(rejected(R"({"expression":"* * * * * *","condition_function_id":1})"),
            "Invalid cron trigger config: `condition_function_id` must be a string, got number");
  EXPECT_EQ(rejected("[]"), "Invalid cron trigger config: expected an object, got array");
  EXPECT_FALSE(engine.registry().find_trigger("bad"));  // a rejected binding is not live
  run_until(at("2024-01-01T00:00:03"));
  EXPECT_TRUE(calls.empty());
}

TEST_F(CronWorkerTest, ConditionFalseSkipsTheRun) {
  ASSERT_EQ(bind("c", "test::job", R"({"expression":"* * * * * *","condition_function_id":"test::condition"})"),
            std::nullopt);
  condition_result = "false";
  run_until(at("2024-01-01T00:00:02.000"));
  EXPECT_TRUE(calls.empty());
  ASSERT_EQ(condition_inputs.size(), 2u);
  condition_result = "true";
  run_until(at("2024-01-01T00:00:03.000"));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(condition_inputs.back(), calls[0].data);  // the condition sees the handler's payload
  condition_result = "null";                          // anything but false lets the handler run
  run_until(at("2024-01-01T00:00:04.000"));
  EXPECT_EQ(calls.size(), 2u);
}

TEST_F(CronWorkerTest, RunsOfOneJobNeverOverlap) {
  ASSERT_EQ(bind("slow", "test::slow", R"({"expression":"* * * * * *"})"), std::nullopt);
  ASSERT_EQ(bind("fast", "test::job", R"({"expression":"* * * * * *"})"), std::nullopt);
  run_until(at("2024-01-01T00:00:05.000"));
  auto count = [&](const char* fn) {
    return std::count_if(calls.begin(), calls.end(), [&](const Call& c) { return c.function_id == fn; });
  };
  EXPECT_EQ(count("test::slow"), 1);  // ticks 2..5 skipped while the first run is in flight
  EXPECT_EQ(count("test::job"), 5);   // another job is not held up
  ASSERT_EQ(pending.size(), 1u);
  pending[0](Outcome::success("null"));
  run_until(at("2024-01-01T00:00:05.900"));
  EXPECT_EQ(count("test::slow"), 1);  // skipped ticks are not replayed
  run_until(at("2024-01-01T00:00:06.000"));
  EXPECT_EQ(count("test::slow"), 2);
  EXPECT_EQ(calls.back().data.at("scheduled_time"), "2024-01-01T00:00:06+00:00");
}

TEST_F(CronWorkerTest, AFailingRunIsLoggedAndTheScheduleGoesOn) {
  job_result = Outcome::failure("boom", "handler failed");
  ASSERT_EQ(bind("f", "test::job", R"({"expression":"* * * * * *"})"), std::nullopt);
  ASSERT_EQ(bind("missing", "test::nobody", R"({"expression":"* * * * * *"})"), std::nullopt);
  run_until(at("2024-01-01T00:00:03.000"));
  EXPECT_EQ(calls.size(), 3u);  // once per tick, no retries
}

TEST_F(CronWorkerTest, AfterAStallAJobFiresOnceAndThenFromNow) {
  ASSERT_EQ(bind("s", "test::job", R"({"expression":"* * * * * *"})"), std::nullopt);
  jump_to(at("2024-01-01T01:00:00.300"));  // an hour without ticks
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data.at("scheduled_time"), "2024-01-01T00:00:01+00:00");
  EXPECT_EQ(calls[0].data.at("actual_time"), "2024-01-01T01:00:00.300+00:00");
  run_until(at("2024-01-01T01:00:01.000"));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].data.at("scheduled_time"), "2024-01-01T01:00:01+00:00");
}

TEST_F(CronWorkerTest, AClockSetBackReschedulesFromTheNewNow) {
  wall = at("2024-01-01T12:00:00.500");
  ASSERT_EQ(bind("m", "test::job", R"({"expression":"0 * * * * *"})"), std::nullopt);  // next: 12:01:00
  jump_to(at("2024-01-01T12:00:10"));
  jump_to(at("2024-01-01T11:00:00.500"));  // NTP stepped the clock back an hour
  run_until(at("2024-01-01T11:01:00.000"));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data.at("scheduled_time"), "2024-01-01T11:01:00+00:00");
}

TEST_F(CronWorkerTest, SameIdReplacesAndUnregisterStops) {
  ASSERT_EQ(bind("r", "test::job", R"({"expression":"* * * * * *"})"), std::nullopt);
  ASSERT_EQ(bind("r", "test::job", R"({"expression":"0 0 0 1 1 *"})"), std::nullopt);  // yearly now
  run_until(at("2024-01-01T00:00:03.000"));
  EXPECT_TRUE(calls.empty());
  ASSERT_EQ(bind("u", "test::job", R"({"expression":"* * * * * *"})"), std::nullopt);
  run_until(at("2024-01-01T00:00:04.000"));
  EXPECT_EQ(calls.size(), 1u);
  EXPECT_TRUE(engine.unregister_trigger("u"));
  run_until(at("2024-01-01T00:00:08.000"));
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(CronWorkerTest, ReplacingARunningJobStillDoesNotOverlap) {
  ASSERT_EQ(bind("r", "test::slow", R"({"expression":"* * * * * *"})"), std::nullopt);
  run_until(at("2024-01-01T00:00:01.000"));
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_EQ(bind("r", "test::slow", R"({"expression":"*/2 * * * * *"})"), std::nullopt);
  run_until(at("2024-01-01T00:00:04.000"));
  EXPECT_EQ(calls.size(), 1u);
  pending[0](Outcome::success("null"));
  run_until(at("2024-01-01T00:00:06.000"));
  EXPECT_EQ(calls.size(), 2u);
}

TEST_F(CronWorkerTest, StoppedWorkerDoesNotFire) {
  ASSERT_EQ(bind("p", "test::job", R"({"expression":"* * * * * *"})"), std::nullopt);
  worker->stop();
  run_until(at("2024-01-01T00:00:03.000"));
  EXPECT_TRUE(calls.empty());
  worker->start();  // resumes: one run for the missed ticks, then on schedule
  run_until(at("2024-01-01T00:00:03.100"));
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(CronWorkerTest, RemoteHandlersDoNotOverlapEither) {
  auto remote = std::make_shared<testing::RecordingEndpoint>();
  engine.attach(remote, "127.0.0.1");
  engine.on_frame(remote, R"({"type":"registerfunction","id":"remote::tick"})");
  engine.on_frame(remote, R"({"type":"registertrigger","id":"rt","trigger_type":"cron","function_id":"remote::tick",)"
                          R"("config":{"expression":"* * * * * *"}})");
  run_until(at("2024-01-01T00:00:03.000"));
  auto invocations = remote->of_type("invokefunction");
  ASSERT_EQ(invocations.size(), 1u);
  EXPECT_EQ(invocations[0].at("data").at("job_id"), "rt");
  engine.on_frame(remote, R"({"type":"invocationresult","invocation_id":")" +
                              std::string(invocations[0].at("invocation_id").as_string()) + R"(","result":null})");
  run_until(at("2024-01-01T00:00:04.000"));
  EXPECT_EQ(remote->of_type("invokefunction").size(), 2u);
  // A bad expression from a remote binder comes back as a triggerregistrationresult error.
  engine.on_frame(remote, R"({"type":"registertrigger","id":"bad","trigger_type":"cron","function_id":"remote::tick",)"
                          R"("config":{"expression":"0 0 0 * * 8"}})");
  auto results = remote->of_type("triggerregistrationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("error").at("code"), "trigger_registration_failed");
  EXPECT_EQ(results[0].at("error").at("message"),
            "Invalid cron expression '0 0 0 * * 8': day-of-week (field 6): `8` is out of range 0-7 (allowed: 0-7 (0 "
            "and 7 are Sunday), SUN-SAT or ?)");
  // The binder goes away: its jobs stop.
  engine.detach(remote);
  remote->clear();
  run_until(at("2024-01-01T00:00:08.000"));
  EXPECT_TRUE(remote->of_type("invokefunction").empty());
}

}  // namespace
}  // namespace iii
