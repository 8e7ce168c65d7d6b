// The C++ SDK's one-shot signal (sdk/cpp/src/done_signal.h) that a blocking trigger() sleeps on:
// set before or after the wait, across threads, and the deadline. Nothing is timed beyond a
// deadline that must pass.
#include "done_signal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace iii::detail {
namespace {

using namespace std::chrono_literals;

TEST(DoneSignal, SetBeforeTheWaitReturnsAtOnce) {
  DoneSignal s;
  s.set();
  EXPECT_TRUE(s.wait_for(0ns));
  EXPECT_TRUE(s.wait_for(10s));
  s.set();  // a second set does nothing
  EXPECT_TRUE(s.wait_for(0ns));
}

TEST(DoneSignal, NotSetWaitsOutItsDeadlineAndSaysSo) {
  DoneSignal s;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(s.wait_for(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);  // the deadline passed, not a spurious return
  EXPECT_FALSE(s.wait_for(0ns));
}

TEST(DoneSignal, ASetOnAnotherThreadWakesTheWaiterAndPublishesWhatWasWrittenBefore) {
  // Many rounds, so that set() lands both before and while the waiter sleeps.
  for (int round = 0; round < 2000; ++round) {
    DoneSignal s;
    int value = 0;
    std::thread setter([&] {
      value = round + 1;
      s.set();
    });
    ASSERT_TRUE(s.wait_for(10s)) << "round " << round;
    EXPECT_EQ(value, round + 1);
    setter.join();
  }
}

}  // namespace
}  // namespace iii::detail
