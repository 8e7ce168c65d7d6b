// One JSON nesting limit everywhere (wire/json_limits.h): values nested deeper than Boost.JSON's
// default of 32 must not be lost by any parser of the engine, the CLI or the C++ SDK.
#include <gtest/gtest.h>

#include "cli/trigger_payload.h"
#include "core/json_text.h"
#include "engine/engine.h"
#include "inbound_frame.h"
#include "workers/http/route_table.h"

namespace iii {
namespace {

// `depth` nested arrays around a 1: [[[…1…]]].
std::string nested(size_t depth) { return std::string(depth, '[') + "1" + std::string(depth, ']'); }

TEST(JsonDepth, JsonTextAcceptsTheEngineWideLimitAndNoMore) {
  EXPECT_TRUE(json_text::parse(nested(kMaxJsonDepth)).has_value());
  std::string error;
  EXPECT_FALSE(json_text::parse(nested(kMaxJsonDepth + 1), &error).has_value());
  EXPECT_FALSE(error.empty());
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

}  // namespace
}  // namespace iii
