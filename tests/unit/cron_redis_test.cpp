// iii-cron on the redis lock adapter (workers/cron/cron_lock.h) with a real redis-server: two
// engines that schedule the same job (same function and expression, registered under different
// trigger ids) run each tick once between them; a job that differs runs on its own; with Redis
// gone, ticks are skipped rather than run twice.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/engine.h"
#include "redis_server.h"
#include "workers/cron/cron_lock.h"
#include "workers/cron/cron_worker.h"

namespace iii {
namespace {

using namespace std::chrono;

// One engine with iii-cron on Redis and a function that counts its calls.
struct CronEngine {
  explicit CronEngine(const std::string& redis_url, system_clock::time_point& wall) {
    CronConfig config;
    config.redis_url = redis_url;
    worker = make_cron_worker(engine, config, [&wall] { return wall; });
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
    auto w = std::make_shared<InProcessWorker>(engine, "jobs");
    for (const char* fn : {"test::job", "test::other"})
      w->add_function(FunctionSpec{fn, "", {}, {}, {}}, SyncFunctionHandler([this, fn](const InProcessCall&) {
                        (std::string(fn) == "test::job" ? runs : other_runs)++;
                        return Outcome::success("null");
                      }));
    engine.add_in_process_worker(w);
  }
  ~CronEngine() { worker->stop(); }
  void bind(const std::string& id, const std::string& fn, const std::string& expression) {
    std::optional<ErrorBody> out;
    engine.register_trigger(TriggerBinding{id, "cron", fn, R"({"expression":")" + expression + R"("})", "", ""},
                            [&](std::optional<ErrorBody> e) { out = std::move(e); });
    ASSERT_EQ(out, std::nullopt);
  }

  Engine engine{EngineOptions{milliseconds(2000), milliseconds(500), 1000}};
  std::unique_ptr<BuiltinWorker> worker;
  std::atomic<int> runs{0}, other_runs{0};
};

// Waits until `done` holds (claims are answered on the lock's own thread).
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 200 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}

TEST(CronOnRedis, TwoEnginesRunEachTickOfTheSameJobOnce) {
  testing::RedisServer::shared().flush();
  system_clock::time_point wall = sys_days{2024y / 1 / 1} + 500ms;
  CronEngine a(testing::RedisServer::shared().url(), wall), b(testing::RedisServer::shared().url(), wall);
  a.bind("a-job", "test::job", "* * * * * *");
  b.bind("b-job", "test::job", "* * * * * *");      // the same job under another id
  b.bind("b-other", "test::other", "* * * * * *");  // another job: not shared with anything
  for (int second = 1; second <= 5; ++second) {
    wall = sys_days{2024y / 1 / 1} + seconds{second} + 50ms;
    a.engine.tick(Clock::now());
    b.engine.tick(Clock::now());
    ASSERT_TRUE(eventually([&] { return a.runs + b.runs == second && b.other_runs == second; }))
        << "tick " << second << ": a " << a.runs << ", b " << b.runs << ", other " << b.other_runs;
  }
  std::this_thread::sleep_for(100ms);  // a second run of a tick would show up by now
  EXPECT_EQ(a.runs + b.runs, 5);
  EXPECT_EQ(b.other_runs, 5);
  RedisPool raw(testing::RedisServer::shared().endpoint());
  EXPECT_EQ(raw.run({"EXISTS", RedisCronLock::key_of("test::job|* * * * * *", 1704067201)}).integer, 1);
}

TEST(CronOnRedis, WithoutRedisTicksAreSkipped) {
  system_clock::time_point wall = sys_days{2024y / 1 / 1} + 500ms;
  CronEngine a("redis://127.0.0.1:1", wall);  // nothing listens on port 1
  a.bind("a-job", "test::job", "* * * * * *");
  wall += 1s;
  a.engine.tick(Clock::now());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(a.runs, 0);
}

}  // namespace
}  // namespace iii
