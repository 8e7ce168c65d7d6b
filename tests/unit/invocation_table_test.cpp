#include "core/invocation_table.h"

#include <gtest/gtest.h>

namespace iii {
namespace {

// Workers are endpoint serials here; 0 is "no caller".
PendingInvocation entry(uint64_t callee, uint64_t caller, Clock::time_point deadline, int* completed = nullptr) {
  PendingInvocation p;
  p.function_id = "f";
  p.callee = callee;
  p.caller = caller;
  p.deadline = deadline;
  if (completed) p.on_complete = [completed](Outcome) { ++*completed; };
  return p;
}

std::string text(const UuidText& id) { return std::string(id.data(), id.size()); }

TEST(InvocationTable, TakesOnlyFromTheCallee) {
  InvocationTable table(10);
  const UuidText id = new_uuid_text();
  ASSERT_TRUE(table.add(id, entry(1, 2, Clock::now() + std::chrono::seconds(5))));
  PendingInvocation out;
  EXPECT_EQ(table.take_result(text(id), 3, &out), TakeStatus::kWrongSender);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.take_result(text(id), 1, &out), TakeStatus::kTaken);
  EXPECT_EQ(out.caller, 2u);
  EXPECT_EQ(table.take_result(text(id), 1, &out), TakeStatus::kUnknownId);
  EXPECT_EQ(table.size(), 0u);
}

TEST(InvocationTable, IdsThatCannotBeKeysAreUnknown) {
  InvocationTable table(10);
  const UuidText id = new_uuid_text();
  ASSERT_TRUE(table.add(id, entry(1, 0, Clock::now() + std::chrono::seconds(5))));
  PendingInvocation out;
  EXPECT_EQ(table.take_result("", 1, &out), TakeStatus::kUnknownId);
  EXPECT_EQ(table.take_result(text(id).substr(1), 1, &out), TakeStatus::kUnknownId);
  EXPECT_EQ(table.take_result(text(id) + "0", 1, &out), TakeStatus::kUnknownId);
  EXPECT_FALSE(table.take(std::string(36, 'x')));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_TRUE(table.take(text(id)));
}

TEST(InvocationTable, CapacityIsABound) {
  InvocationTable table(2);
  auto later = Clock::now() + std::chrono::seconds(5);
  const UuidText a = new_uuid_text();
  EXPECT_TRUE(table.add(a, entry(1, 0, later)));
  EXPECT_TRUE(table.add(new_uuid_text(), entry(1, 0, later)));
  EXPECT_FALSE(table.add(new_uuid_text(), entry(1, 0, later)));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_TRUE(table.take(text(a)));
  EXPECT_TRUE(table.add(new_uuid_text(), entry(1, 0, later)));
}

TEST(InvocationTable, ManyIdsAllFoundAgain) {
  InvocationTable table(10000);
  auto later = Clock::now() + std::chrono::seconds(5);
  std::vector<UuidText> ids;
  for (int i = 0; i < 5000; ++i) {
    ids.push_back(new_uuid_text());
    ASSERT_TRUE(table.add(ids.back(), entry(static_cast<uint64_t>(i % 7 + 1), 0, later)));
  }
  EXPECT_EQ(table.size(), 5000u);
  for (size_t i = 0; i < ids.size(); ++i) {
    PendingInvocation out;
    ASSERT_EQ(table.take_result(text(ids[i]), i % 7 + 1, &out), TakeStatus::kTaken) << i;
  }
  EXPECT_EQ(table.size(), 0u);
}

TEST(InvocationTable, FinishClosesTheObservationThenCompletes) {
  struct Recorder : CallObservation {
    std::vector<std::string>* log;
    explicit Recorder(std::vector<std::string>* l) : log(l) {}
    std::string_view child_traceparent() const override { return {}; }
    void finish(const Outcome& o) override { log->push_back("observed " + o.result); }
  };
  std::vector<std::string> log;
  PendingInvocation p;
  p.observation = std::make_shared<Recorder>(&log);
  p.on_complete = [&](Outcome o) { log.push_back("completed " + o.result); };
  p.finish(Outcome::success("1"));
  EXPECT_EQ(log, (std::vector<std::string>{"observed 1", "completed 1"}));
  PendingInvocation unobserved_void;  // neither: nothing to do, nothing fails
  unobserved_void.finish(Outcome::success("2"));
}

TEST(InvocationTable, TakeWorkerFindsBothDirections) {
  InvocationTable table(100);
  auto later = Clock::now() + std::chrono::seconds(5);
  table.add(new_uuid_text(), entry(10, 20, later));
  table.add(new_uuid_text(), entry(20, 30, later));
  table.add(new_uuid_text(), entry(30, 0, later));
  auto taken = table.take_worker(20);
  EXPECT_EQ(taken.size(), 2u);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.count_for_callee(30), 1u);
  EXPECT_EQ(table.count_for_callee(10), 0u);
}

TEST(InvocationTable, ExpiresOnlyPastDeadlines) {
  InvocationTable table(100);
  auto now = Clock::now();
  const UuidText old_id = new_uuid_text();
  table.add(old_id, entry(1, 0, now - std::chrono::milliseconds(1)));
  table.add(new_uuid_text(), entry(1, 0, now + std::chrono::seconds(5)));
  auto expired = table.take_expired(now);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].first, text(old_id));
  EXPECT_EQ(table.size(), 1u);
}

}  // namespace
}  // namespace iii
