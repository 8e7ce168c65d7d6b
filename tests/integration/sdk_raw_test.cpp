// The C++ SDK's raw forms against the real engine binary: functions and calls on JSON text
// (register_raw_function, TriggerRequest::payload_json, trigger_raw_then), mixed with the
// DOM forms, and their checks of text that is not one JSON value.
#include <gtest/gtest.h>

#include <boost/json.hpp>
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
