// JSON nesting limits (wire/json_limits.h): the engine refuses frames and values nested deeper
// than json_depth_limit() (default 128, configurable up to kMaxJsonDepth), and nothing within it
// is lost by any parser of the engine, the CLI or the C++ SDK (Boost.JSON's own default is 32).
#include <gtest/gtest.h>

#include "cli/trigger_payload.h"
#include "core/frame_peek.h"
#include "core/json_text.h"
#include "core/message.h"
#include "engine/engine.h"
#include "inbound_frame.h"
#include "workers/http/route_table.h"

namespace iii {
namespace {

// `depth` nested arrays around a 1: [[[…1…]]].
std::string nested(size_t depth) { return std::string(depth, '[') + "1" + std::string(depth, ']'); }

// Restores the process-wide limit after a test that changes it.
struct DepthLimit {
  explicit DepthLimit(size_t depth) { set_json_depth_limit(depth); }
  ~DepthLimit() { set_json_depth_limit(kDefaultJsonDepth); }
};

TEST(JsonDepth, JsonTextAcceptsTheEngineLimitAndNoMore) {
  EXPECT_EQ(json_depth_limit(), kDefaultJsonDepth);
  EXPECT_TRUE(json_text::parse(nested(kDefaultJsonDepth)).has_value());
  std::string error;
  EXPECT_FALSE(json_text::parse(nested(kDefaultJsonDepth + 1), &error).has_value());
  EXPECT_FALSE(error.empty());
  DepthLimit raised(kMaxJsonDepth);
  EXPECT_TRUE(json_text::parse(nested(kMaxJsonDepth)).has_value());
  EXPECT_FALSE(json_text::parse(nested(kMaxJsonDepth + 1)).has_value());
}

// A frame is depth 1, its data depth 2: data may hold limit - 1 levels.
std::string invoke_frame(size_t data_depth) {
  return R"({"type":"invokefunction","invocation_id":"i-1","function_id":"f::g","data":)" + nested(data_depth) + "}";
}

TEST(JsonDepth, FramesNestedDeeperThanTheLimitAreRefusedWithAClearReason) {
  Message m;
  EXPECT_EQ(parse_message(invoke_frame(kDefaultJsonDepth - 1), m), "");
  EXPECT_EQ(parse_message(invoke_frame(kDefaultJsonDepth), m), "field \"data\" is nested deeper than 128 levels");
  // Deeper than the parser's own ceiling too: still refused, never a crash.
  EXPECT_FALSE(parse_message(invoke_frame(5000), m).empty());
  DepthLimit lowered(8);
  EXPECT_EQ(parse_message(invoke_frame(7), m), "");
  EXPECT_EQ(parse_message(invoke_frame(8), m), "field \"data\" is nested deeper than 8 levels");
  EXPECT_EQ(parse_message(R"({"type":"ping","extra":)" + nested(8) + "}", m), "field \"extra\" is nested deeper than 8 levels");
}

TEST(JsonDepth, TriggerConditionSurvivesADeepConfig) {
  const std::string config = R"({"deep":)" + nested(100) + R"(,"condition_function_id":"cond::check"})";
  EXPECT_EQ(condition_function_id_of(config), "cond::check");
}

TEST(JsonDepth, InternalMetadataSurvivesDeepMetadata) {
  EXPECT_TRUE(metadata_marks_internal(R"({"internal":true,"x":)" + nested(100) + "}"));
}

TEST(JsonDepth, HttpRouteWithADeepConfigIsAccepted) {
  RouteTable routes;
  TriggerBinding b;
  b.id = "t1", b.trigger_type = "http", b.function_id = "fn", b.owner_worker_id = "w1";
  b.config = R"({"api_path":"deep","extra":)" + nested(100) + "}";
  EXPECT_FALSE(routes.add(b).has_value());
  EXPECT_TRUE(routes.match("GET", "/deep").has_value());
}

TEST(JsonDepth, CliPayloadAcceptsDeepJson) {
  const auto payload = cli::build_trigger_payload({}, R"({"a":)" + nested(100) + "}");
  EXPECT_TRUE(payload.error.empty()) << payload.error;
  EXPECT_TRUE(payload.payload.is_object());
}

TEST(JsonDepth, SdkPayloadValuesAcceptDeepJson) {
  boost::json::value out;
  ASSERT_TRUE(detail::parse_raw_value(std::string_view(nested(100)), out));
  EXPECT_TRUE(out.is_array());
  EXPECT_FALSE(detail::parse_raw_value(std::string_view(nested(kMaxJsonDepth + 1)), out));
}

TEST(FramePeek, FindsASynchronousCallInAFrameTheParserRefused) {
  auto call = peek_sync_call(invoke_frame(5000));
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->invocation_id, "i-1");
  EXPECT_EQ(call->function_id, "f::g");
  // Field order does not matter; the data may come first.
  call = peek_sync_call(R"({"data":)" + nested(3000) + R"(,"function_id":"a::b","type":"invokefunction","invocation_id":"x"})");
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->invocation_id, "x");
  EXPECT_EQ(call->function_id, "a::b");
  // An explicit sync action waits too.
  EXPECT_TRUE(peek_sync_call(R"({"type":"invokefunction","invocation_id":"x","action":{"type":"sync"},"data":[[]]})"));
}

TEST(FramePeek, IgnoresWhatNobodyWaitsFor) {
  EXPECT_FALSE(peek_sync_call(R"({"type":"invokefunction","invocation_id":"x","action":{"type":"void"},"data":1})"));
  EXPECT_FALSE(peek_sync_call(R"({"type":"invokefunction","invocation_id":"x","action":{"type":"enqueue","queue":"q"}})"));
  EXPECT_FALSE(peek_sync_call(R"({"type":"invokefunction","data":1})"));
  EXPECT_FALSE(peek_sync_call(R"({"type":"registerfunction","invocation_id":"x"})"));
  EXPECT_FALSE(peek_sync_call("[" + nested(100) + "]"));
  EXPECT_FALSE(peek_sync_call(""));
  EXPECT_FALSE(peek_sync_call(R"({"type":"invokefunction","invocation_id":"a\"b"})"));  // escapes: not trusted
  // Truncated inside the data: judged on the fields before it.
  EXPECT_TRUE(peek_sync_call(R"({"type":"invokefunction","invocation_id":"x","data":[[[)"));
  EXPECT_FALSE(peek_sync_call(R"({"type":"invokefunction","data":[[[)"));
}

}  // namespace
}  // namespace iii
