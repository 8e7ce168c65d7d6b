// BlockingRunner (src/workers/blocking_runner.h): tasks overlap on its threads, the queue is
// bounded, and destroying it runs what was queued — also from one of its own threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>

#include "workers/blocking_runner.h"

namespace iii {
namespace {

using namespace std::chrono_literals;

TEST(BlockingRunner, TasksOverlapOnItsThreads) {
  BlockingRunner runner("test", 4, 100);
  std::atomic<int> running{0}, most{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(runner.post([&] {
      const int now = ++running;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      released.wait();
      --running;
      ++done;
    }));
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (most.load() < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(most.load(), 4) << "four blocking tasks did not run at once";
  release.set_value();
  while (done.load() < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(done.load(), 4);
}

TEST(BlockingRunner, RefusesBeyondItsQueueBound) {
  BlockingRunner runner("test", 1, 2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(runner.post([&] {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();  // the one thread is busy: what follows waits in the queue
  EXPECT_TRUE(runner.post([] {}));
  EXPECT_TRUE(runner.post([] {}));
  EXPECT_FALSE(runner.post([] {})) << "a third queued task was accepted";
  EXPECT_EQ(runner.queued(), 2u);
  release.set_value();
}

TEST(BlockingRunner, DestructionRunsQueuedTasksFirst) {
  std::atomic<int> ran{0};
  {
    BlockingRunner runner("test", 1, 100);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(runner.post([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(BlockingRunner, CanBeDestroyedByItsOwnTask) {
  auto runner = std::make_shared<BlockingRunner>("test", 2, 100);
  std::promise<void> finished;
  BlockingRunner* raw = runner.get();
  ASSERT_TRUE(raw->post([owner = std::move(runner), &finished]() mutable {
    owner.reset();  // the last owner: the runner is destroyed on its own thread
    finished.set_value();
  }));
  EXPECT_EQ(finished.get_future().wait_for(5s), std::future_status::ready);
}

}  // namespace
}  // namespace iii
