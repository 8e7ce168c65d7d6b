// net::LoopExecutor under a strand: a dispatch from another loop of the pool enters a sleeping
// loop's idle strand on the caller's thread; an awake loop, a post, or a thread outside the pool
// gets the function run on the owning loop. And the strand still runs one handler at a time.
#include "net/loop_executor.h"

#include "eventually.h"

#include <gtest/gtest.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

namespace {

using iii::net::IoPool;
using iii::net::LoopExecutor;
using Strand = boost::asio::strand<LoopExecutor>;
using namespace std::chrono_literals;

// Two started loops, A (the strand's) and B (the caller's), and the thread each runs on.
struct TwoLoops {
  boost::asio::io_context unused;
  IoPool pool{2};
  boost::asio::io_context* a = nullptr;
  boost::asio::io_context* b = nullptr;
  std::thread::id a_thread, b_thread;

  TwoLoops() {
    pool.start();
    a = &iii::net::connection_context(unused);
    b = &iii::net::connection_context(unused);
    a_thread = thread_of(*a);
    b_thread = thread_of(*b);
  }
  static std::thread::id thread_of(boost::asio::io_context& loop) {
    std::promise<std::thread::id> id;
    boost::asio::post(loop, [&] { id.set_value(std::this_thread::get_id()); });
    return id.get_future().get();
  }
  Strand strand_on_a() { return Strand(LoopExecutor(*a, iii::net::idle_flag(*a))); }
  bool a_sleeps() {
    return iii::testing::eventually([&] { return iii::net::idle_flag(*a)->load(); });
  }
};

// Dispatches into `strand` from a handler on `from` and returns the thread the function ran on:
// `from`'s own thread when it ran inline (only a dispatch from `from` can run it there).
std::thread::id dispatch_from(boost::asio::io_context& from, Strand& strand) {
  auto ran_on = std::make_shared<std::promise<std::thread::id>>();
  boost::asio::post(from, [&strand, ran_on] {
    boost::asio::dispatch(strand, [ran_on] { ran_on->set_value(std::this_thread::get_id()); });
  });
  auto thread = ran_on->get_future();
  EXPECT_EQ(thread.wait_for(5s), std::future_status::ready);
  return thread.get();
}

TEST(LoopExecutor, OnlyThePoolsLoopsHaveAnIdleFlag) {
  TwoLoops loops;
  EXPECT_NE(iii::net::idle_flag(*loops.a), nullptr);
  EXPECT_EQ(iii::net::idle_flag(loops.unused), nullptr);
}

TEST(LoopExecutor, ADispatchFromAnotherLoopEntersASleepingLoopsStrandThere) {
  TwoLoops loops;
  Strand strand = loops.strand_on_a();
  ASSERT_TRUE(loops.a_sleeps());
  EXPECT_EQ(dispatch_from(*loops.b, strand), loops.b_thread);
}

// Holds loop A in a handler, from a sleeping start, while B dispatches into A's strand; returns
// the thread the dispatched function ran on once A is released. How A is held: `second_handler`,
// in a handler that is not the first after the wait (the loop clears its flag once that first one
// returns), else in the first one, which calls net::mark_loop_awake() as a connection's read does.
std::thread::id dispatch_while_a_is_held(TwoLoops& loops, Strand& strand, bool second_handler) {
  EXPECT_TRUE(loops.a_sleeps());
  std::promise<void> release;
  std::atomic<bool> holding{false};
  auto gate = release.get_future().share();
  auto hold = [&holding, gate, second_handler] {
    if (!second_handler) iii::net::mark_loop_awake();
    holding = true;
    gate.wait();
  };
  if (second_handler) boost::asio::post(*loops.a, [&loops, hold] { boost::asio::post(*loops.a, hold); });
  else boost::asio::post(*loops.a, hold);
  EXPECT_TRUE(iii::testing::eventually([&] { return holding.load(); }));
  auto ran_on = std::make_shared<std::promise<std::thread::id>>();
  std::promise<void> dispatched;
  boost::asio::post(*loops.b, [&strand, ran_on, &dispatched] {
    boost::asio::dispatch(strand, [ran_on] { ran_on->set_value(std::this_thread::get_id()); });
    dispatched.set_value();
  });
  dispatched.get_future().wait();
  release.set_value();
  auto thread = ran_on->get_future();
  EXPECT_EQ(thread.wait_for(5s), std::future_status::ready);
  return thread.get();
}

TEST(LoopExecutor, AnAwakeLoopGetsTheDispatchPosted) {
  TwoLoops loops;
  Strand strand = loops.strand_on_a();
  EXPECT_EQ(dispatch_while_a_is_held(loops, strand, /*second_handler=*/true), loops.a_thread);
}

TEST(LoopExecutor, ALoopMarkedAwakeGetsTheDispatchPosted) {
  TwoLoops loops;
  Strand strand = loops.strand_on_a();
  EXPECT_EQ(dispatch_while_a_is_held(loops, strand, /*second_handler=*/false), loops.a_thread);
}

TEST(LoopExecutor, PostsAndThreadsOutsideThePoolRunOnTheOwningLoop) {
  TwoLoops loops;
  Strand strand = loops.strand_on_a();
  ASSERT_TRUE(loops.a_sleeps());
  std::promise<std::thread::id> posted;
  boost::asio::post(*loops.b, [&] { boost::asio::post(strand, [&] { posted.set_value(std::this_thread::get_id()); }); });
  EXPECT_EQ(posted.get_future().get(), loops.a_thread);

  ASSERT_TRUE(loops.a_sleeps());
  auto dispatched = std::make_shared<std::promise<std::thread::id>>();
  // This test's thread is not one of the pool's.
  boost::asio::dispatch(strand, [dispatched] { dispatched->set_value(std::this_thread::get_id()); });
  EXPECT_EQ(dispatched->get_future().get(), loops.a_thread);
}

// While the strand runs a handler on A, a dispatch from B waits for it (A may look idle to B in
// between: the strand, not the idle flag, keeps the two apart).
TEST(LoopExecutor, TheStrandStillRunsOneHandlerAtATime) {
  TwoLoops loops;
  Strand strand = loops.strand_on_a();
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> done{0};
  auto body = [&] {
    if (inside.fetch_add(1) != 0) ++overlaps;
    std::this_thread::sleep_for(1ms);
    inside.fetch_sub(1);
    ++done;
  };
  constexpr int kEach = 50;
  for (int i = 0; i < kEach; ++i) {
    boost::asio::post(*loops.a, [&] { boost::asio::dispatch(strand, body); });
    boost::asio::post(*loops.b, [&] { boost::asio::dispatch(strand, body); });
  }
  ASSERT_TRUE(iii::testing::eventually([&] { return done.load() == 2 * kEach; }));
  EXPECT_EQ(overlaps.load(), 0);
}

}  // namespace
