#include "core/invocation_table.h"

#include <gtest/gtest.h>

namespace iii {
namespace {

PendingInvocation entry(std::string callee, std::string caller, Clock::time_point deadline, int* completed = nullptr) {
  PendingInvocation p;
  p.function_id = "f";
  p.callee_worker_id = std::move(callee);
  p.caller_worker_id = std::move(caller);
  p.deadline = deadline;
  if (completed) p.on_complete = [completed](Outcome) { ++*completed; };
  return p;
}

TEST(InvocationTable, TakesOnlyFromTheCallee) {
  InvocationTable table(10);
  ASSERT_TRUE(table.add("i1", entry("callee", "caller", Clock::now() + std::chrono::seconds(5))));
  PendingInvocation out;
  EXPECT_EQ(table.take_result("i1", "intruder", &out), TakeStatus::kWrongSender);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.take_result("i1", "callee", &out), TakeStatus::kTaken);
  EXPECT_EQ(out.caller_worker_id, "caller");
  EXPECT_EQ(table.take_result("i1", "callee", &out), TakeStatus::kUnknownId);
  EXPECT_EQ(table.size(), 0u);
}

TEST(InvocationTable, CapacityIsABound) {
  InvocationTable table(2);
  auto later = Clock::now() + std::chrono::seconds(5);
  EXPECT_TRUE(table.add("a", entry("w", "", later)));
  EXPECT_TRUE(table.add("b", entry("w", "", later)));
  EXPECT_FALSE(table.add("c", entry("w", "", later)));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_TRUE(table.take("a"));
  EXPECT_TRUE(table.add("c", entry("w", "", later)));
}

TEST(InvocationTable, TakeWorkerFindsBothDirections) {
  InvocationTable table(100);
  auto later = Clock::now() + std::chrono::seconds(5);
  table.add("1", entry("x", "y", later));
  table.add("2", entry("y", "z", later));
  table.add("3", entry("z", "", later));
  auto taken = table.take_worker("y");
  EXPECT_EQ(taken.size(), 2u);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.count_for_callee("z"), 1u);
}

TEST(InvocationTable, ExpiresOnlyPastDeadlines) {
  InvocationTable table(100);
  auto now = Clock::now();
  table.add("old", entry("w", "", now - std::chrono::milliseconds(1)));
  table.add("new", entry("w", "", now + std::chrono::seconds(5)));
  auto expired = table.take_expired(now);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].first, "old");
  EXPECT_EQ(table.size(), 1u);
}

}  // namespace
}  // namespace iii
