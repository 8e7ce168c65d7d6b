// Engine tickers (engine/engine.h) and WorkerTicker (workers/builtin.h): periodic work runs on
// every tick until removed, a built-in registers its ticker at most once however often it is
// started, and stopping or destroying the built-in removes it (a hot reload leaves nothing behind).
// Worker-event listeners likewise run until unsubscribed.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "workers/builtin.h"

namespace iii {
namespace {

TEST(EngineTickers, RunOnEveryTickUntilRemoved) {
  Engine engine;
  int a = 0, b = 0;
  const TickerId first = engine.add_ticker([&](Clock::time_point) { ++a; });
  engine.add_ticker([&](Clock::time_point) { ++b; });
  engine.tick(Clock::now());
  engine.tick(Clock::now());
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 2);
  engine.remove_ticker(first);
  engine.remove_ticker(first);  // a second removal changes nothing
  engine.tick(Clock::now());
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 3);
}

TEST(EngineWorkerEvents, ListenersRunUntilUnsubscribed) {
  Engine engine;
  std::vector<std::string> a, b;
  const ListenerId first = engine.subscribe_worker_events([&](std::string_view e, std::string_view w) {
    a.push_back(std::string(e) + " " + std::string(w));
  });
  engine.subscribe_worker_events([&](std::string_view e, std::string_view) { b.emplace_back(e); });
  engine.announce_worker_event("worker_connected", "w1");
  engine.unsubscribe_worker_events(first);
  engine.unsubscribe_worker_events(first);  // a second removal changes nothing
  engine.announce_worker_event("worker_disconnected", "w1");
  EXPECT_EQ(a, std::vector<std::string>{"worker_connected w1"});
  EXPECT_EQ(b, (std::vector<std::string>{"worker_connected", "worker_disconnected"}));
}

TEST(EngineTickers, ATickerMayRemoveItselfWhileRunning) {
  Engine engine;
  int runs = 0;
  TickerId id = 0;
  id = engine.add_ticker([&](Clock::time_point) {
    ++runs;
    engine.remove_ticker(id);  // no deadlock: tickers run outside the engine's lock
  });
  engine.tick(Clock::now());
  engine.tick(Clock::now());
  EXPECT_EQ(runs, 1);
}

TEST(WorkerTicker, StartedTwiceRunsOnceAndStopRemovesIt) {
  Engine engine;
  int runs = 0;
  WorkerTicker ticker(engine);
  ticker.start([&](Clock::time_point) { ++runs; });
  ticker.start([&](Clock::time_point) { runs += 100; });  // ignored: already running
  EXPECT_TRUE(ticker.running());
  engine.tick(Clock::now());
  EXPECT_EQ(runs, 1);
  ticker.stop();
  EXPECT_FALSE(ticker.running());
  engine.tick(Clock::now());
  EXPECT_EQ(runs, 1);
  ticker.start([&](Clock::time_point) { runs += 10; });  // a restart registers anew
  engine.tick(Clock::now());
  EXPECT_EQ(runs, 11);
}

TEST(WorkerTicker, DestructionRemovesIt) {
  Engine engine;
  int runs = 0;
  {
    WorkerTicker ticker(engine);
    ticker.start([&](Clock::time_point) { ++runs; });
    engine.tick(Clock::now());
  }
  engine.tick(Clock::now());
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace iii
