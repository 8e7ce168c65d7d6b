// The C++ SDK's raw forms against the real engine binary: functions and calls on JSON text
// (register_raw_function, TriggerRequest::payload_json, trigger_raw_then), mixed with the
// DOM forms, and their checks of text that is not one JSON value.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <vector>
#include <string>

#include "test_workers.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using iii::test::connected_worker;
using iii::test::EngineProcess;
using iii::test::wait_function_visible;

struct RawAnswer {
  std::string result;
  std::optional<iii::InvocationError> error;
};

RawAnswer raw_call(iii::Worker& caller, iii::TriggerRequest request) {
  auto promise = std::make_shared<std::promise<RawAnswer>>();
  auto answer = promise->get_future();
  caller.trigger_raw_then(std::move(request), [promise](std::string_view result, std::optional<iii::InvocationError> error) {
    promise->set_value(RawAnswer{std::string(result), std::move(error)});
  });
  if (answer.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 10 s";
    return {};
  }
  return answer.get();
}

TEST(SdkRaw, ARawFunctionGetsTheDataAsTheEngineSentItAndItsTextIsTheResult) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "raw-callee");
  auto caller = connected_worker(engine, "raw-caller");
  struct Seen {
    std::mutex mu;
    std::vector<std::string> payloads;
  };
  auto seen = std::make_shared<Seen>();
  callee->register_raw_function("raw::wrap", [seen](std::string_view payload) -> std::optional<std::string> {
    std::lock_guard lock(seen->mu);
    seen->payloads.emplace_back(payload);
    return R"({"wrapped":)" + std::string(payload) + "}";
  });
  ASSERT_TRUE(wait_function_visible(*caller, "raw::wrap"));

  // Text sent as it is: key order, number spelling and spacing survive the trip (a DOM would
  // have normalised 1.50 and the spaces); the engine adds the caller's id as the last key.
  const std::string payload = R"({"z": 1.50, "a": [true, null]})";
  RawAnswer answer = raw_call(*caller, {.function_id = "raw::wrap", .payload_json = payload});
  ASSERT_FALSE(answer.error) << answer.error->what();
  std::string got;
  {
    std::lock_guard lock(seen->mu);
    ASSERT_EQ(seen->payloads.size(), 1u);
    got = seen->payloads[0];
  }
  EXPECT_EQ(got.rfind(R"({"z": 1.50, "a": [true, null],"_caller_worker_id":)", 0), 0u) << got;
  EXPECT_EQ(answer.result, R"({"wrapped":)" + got + "}");

  // The DOM forms interoperate: a DOM call of a raw function, a raw call of a DOM function.
  json::value dom = caller->trigger("raw::wrap", json::value{{"n", 7}});
  EXPECT_EQ(dom.at("wrapped").at("n").as_int64(), 7);
  callee->register_function("dom::echo", [](json::value p) -> json::value { return p.at("n"); });
  ASSERT_TRUE(wait_function_visible(*caller, "dom::echo"));
  answer = raw_call(*caller, {.function_id = "dom::echo", .payload_json = R"({"n":"x"})"});
  ASSERT_FALSE(answer.error);
  EXPECT_EQ(answer.result, R"("x")");
}

TEST(SdkRaw, NoResultIsNullAndFailuresKeepTheirCodes) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "raw-callee");
  auto caller = connected_worker(engine, "raw-caller");
  callee->register_raw_function("raw::nothing", [](std::string_view) { return std::nullopt; });
  callee->register_raw_function("raw::refuse", [](std::string_view) -> std::optional<std::string> {
    throw iii::InvocationError("NOT_NOW", "come back later");
  });
  callee->register_raw_function("raw::broken", [](std::string_view) -> std::optional<std::string> {
    return std::string(R"({"a":)");  // not one JSON value
  });
  ASSERT_TRUE(wait_function_visible(*caller, "raw::broken"));

  RawAnswer answer = raw_call(*caller, {.function_id = "raw::nothing"});
  ASSERT_FALSE(answer.error);
  EXPECT_EQ(answer.result, "null");
  EXPECT_TRUE(caller->trigger("raw::nothing", nullptr).is_null());

  answer = raw_call(*caller, {.function_id = "raw::refuse"});
  ASSERT_TRUE(answer.error);
  EXPECT_EQ(answer.error->code(), "NOT_NOW");
  EXPECT_EQ(answer.result, "null");

  answer = raw_call(*caller, {.function_id = "raw::broken"});
  ASSERT_TRUE(answer.error);
  EXPECT_EQ(answer.error->code(), "invocation_failed");
  EXPECT_EQ(answer.error->message(), "the handler's result is not one valid JSON value");

  answer = raw_call(*caller, {.function_id = "raw::missing"});
  ASSERT_TRUE(answer.error);
  EXPECT_EQ(answer.error->code(), "function_not_found");
}

TEST(SdkRaw, PayloadTextThatIsNotOneJsonValueIsRefusedBeforeItIsSent) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "raw-callee");
  auto caller = connected_worker(engine, "raw-caller");
  auto calls = std::make_shared<std::atomic<int>>(0);
  callee->register_raw_function("raw::count", [calls](std::string_view) -> std::optional<std::string> {
    ++*calls;
    return std::string("1");
  });
  ASSERT_TRUE(wait_function_visible(*caller, "raw::count"));

  for (const char* bad : {"", "{", R"({"a":1} {"b":2})", "nul", R"(["unterminated)"}) {
    RawAnswer answer = raw_call(*caller, {.function_id = "raw::count", .payload_json = std::string(bad)});
    ASSERT_TRUE(answer.error) << bad;
    EXPECT_EQ(answer.error->code(), "INVALID_PAYLOAD") << bad;
  }
  // The same check in the other call forms, void calls included.
  try {
    caller->trigger({.function_id = "raw::count", .payload_json = "{"});
    ADD_FAILURE() << "an invalid payload_json was sent";
  } catch (const iii::InvocationError& e) {
    EXPECT_EQ(e.code(), "INVALID_PAYLOAD");
  }
  RawAnswer void_call = raw_call(*caller, {.function_id = "raw::count", .payload_json = "[", .action = iii::Void{}});
  ASSERT_TRUE(void_call.error);
  EXPECT_EQ(void_call.error->code(), "INVALID_PAYLOAD");

  // Nothing reached the function; a valid one does, and the worker is still usable.
  EXPECT_EQ(calls->load(), 0);
  RawAnswer ok = raw_call(*caller, {.function_id = "raw::count", .payload_json = " [1, 2] "});
  ASSERT_FALSE(ok.error);
  EXPECT_EQ(ok.result, "1");
  EXPECT_EQ(calls->load(), 1);
}

}  // namespace

namespace {

// Calls that the engine answers at once, many in flight on one connection: the engine writes a
// read's answers to that connection every few frames (WsConnection::send_answers_early) and the
// rest at the read's end. Every call must get its own answer, once, in a burst of any size.
TEST(SdkRaw, ManyStateCallsInFlightOnOneConnectionEachGetTheirOwnAnswer) {
  EngineProcess engine("workers:\n  - name: state\n    config: { adapter: { name: kv, config: { store_method: in_memory } } }\n");
  auto caller = connected_worker(engine, "state-burst");
  ASSERT_TRUE(wait_function_visible(*caller, "state::set"));
  constexpr int kCalls = 500;
  struct Answers {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> results = std::vector<std::string>(kCalls);
    std::vector<int> counts = std::vector<int>(kCalls);
    int errors = 0, done = 0;
  };
  auto answers = std::make_shared<Answers>();
  for (int i = 0; i < kCalls; ++i) {  // issued back to back: they reach the engine in a few reads
    const std::string payload = R"({"scope":"burst","key":"k)" + std::to_string(i) + R"(","value":{"i":)" +
                                std::to_string(i) + "}}";
    caller->trigger_raw_then({.function_id = "state::set", .payload_json = payload},
                             [answers, i](std::string_view result, std::optional<iii::InvocationError> error) {
                               std::lock_guard lock(answers->mu);
                               if (error) ++answers->errors;
                               answers->results[i] = std::string(result);
                               ++answers->counts[i];
                               ++answers->done;
                               answers->cv.notify_all();
                             });
  }
  std::unique_lock lock(answers->mu);
  ASSERT_TRUE(answers->cv.wait_for(lock, 20s, [&] { return answers->done >= kCalls; })) << answers->done;
  EXPECT_EQ(answers->errors, 0);
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(answers->counts[i], 1) << i;
    EXPECT_EQ(answers->results[i], R"({"old_value":null,"new_value":{"i":)" + std::to_string(i) + "}}") << i;
  }
  lock.unlock();
  // And the store holds what each call wrote.
  for (int i : {0, 1, 3, 4, 250, kCalls - 1}) {
    RawAnswer got = raw_call(*caller, {.function_id = "state::get",
                                       .payload_json = R"({"scope":"burst","key":"k)" + std::to_string(i) + "\"}"});
    ASSERT_FALSE(got.error) << got.error->what();
    EXPECT_EQ(got.result, R"({"i":)" + std::to_string(i) + "}");
  }
}

}  // namespace
