// `iii trigger` payload rules and output format (docs/config.md §10.2).
#include "cli/trigger_payload.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace {

namespace json = boost::json;
using iii::cli::build_trigger_payload;
using iii::cli::pretty_json;

json::value payload_of(std::vector<std::string> tokens, std::optional<std::string> json_text = std::nullopt) {
  auto built = build_trigger_payload(tokens, json_text);
  EXPECT_TRUE(built.ok()) << built.error;
  return built.payload;
}

std::string error_of(std::vector<std::string> tokens, std::optional<std::string> json_text = std::nullopt) {
  auto built = build_trigger_payload(tokens, json_text);
  EXPECT_FALSE(built.ok());
  return built.error;
}

TEST(TriggerPayload, NothingGivenIsAnEmptyObject) { EXPECT_EQ(payload_of({}), json::value(json::object{})); }

TEST(TriggerPayload, JsonAloneIsTakenAsIs) {
  EXPECT_EQ(payload_of({}, R"({"a": 1, "b": "two"})"), json::parse(R"({"a":1,"b":"two"})"));
  EXPECT_EQ(payload_of({}, "[1, 2, 3]"), json::parse("[1,2,3]"));
  EXPECT_EQ(payload_of({}, R"("text")"), json::value("text"));
  EXPECT_EQ(payload_of({}, "42"), json::value(42));
  EXPECT_TRUE(payload_of({}, "null").is_null());
}

TEST(TriggerPayload, InvalidJsonIsAnError) {
  EXPECT_EQ(error_of({}, "not-json"), "--json: invalid JSON `not-json`");
  EXPECT_EQ(error_of({}, "{\"a\":"), "--json: invalid JSON `{\"a\":`");
}

TEST(TriggerPayload, KeyValueTokensBuildAnObject) {
  EXPECT_EQ(payload_of({"a=2", "b=3"}), json::parse(R"({"a":2,"b":3})"));  // the Quickstart call
}

TEST(TriggerPayload, ValuesAreJsonWhenValidElseStrings) {
  json::value p = payload_of({"a=2", "x=1.5", "ok=true", "n=null", "name=alice", R"(s="10")", "list=[1,2]",
                              R"(obj={"k":1})", "e=", "b=hello world", "v=007", "u=a=b"});
  EXPECT_EQ(p.at("a"), json::value(2));
  EXPECT_EQ(p.at("x"), json::value(1.5));
  EXPECT_EQ(p.at("ok"), json::value(true));
  EXPECT_TRUE(p.at("n").is_null());
  EXPECT_EQ(p.at("name"), json::value("alice"));
  EXPECT_EQ(p.at("s"), json::value("10"));
  EXPECT_EQ(p.at("list"), json::parse("[1,2]"));
  EXPECT_EQ(p.at("obj"), json::parse(R"({"k":1})"));
  EXPECT_EQ(p.at("e"), json::value(""));
  EXPECT_EQ(p.at("b"), json::value("hello world"));
  EXPECT_EQ(p.at("v"), json::value("007"));  // not valid JSON, so a string
  EXPECT_EQ(p.at("u"), json::value("a=b"));  // split at the first '='
  EXPECT_EQ(p.as_object().size(), 12u);
}

TEST(TriggerPayload, KeysAreLiteralAndLaterDuplicatesWin) {
  json::value p = payload_of({"a.b=1", "k=1", "k=2"});
  EXPECT_EQ(p, json::parse(R"({"a.b":1,"k":2})"));
}

TEST(TriggerPayload, TokenWithoutEqualsIsAnError) {
  EXPECT_EQ(error_of({"a=1", "just-a-word"}), "expected key=value, got `just-a-word`");
}

TEST(TriggerPayload, EmptyKeyIsAnError) { EXPECT_NE(error_of({"=value"}).find("`=value`"), std::string::npos); }

TEST(TriggerPayload, JsonObjectMergedShallowlyWithTokens) {
  EXPECT_EQ(payload_of({"a=99"}, R"({"a":1,"b":2})"), json::parse(R"({"a":99,"b":2})"));
  EXPECT_EQ(payload_of({"c=3"}, R"({"a":1,"b":{"x":1}})"), json::parse(R"({"a":1,"b":{"x":1},"c":3})"));
  EXPECT_EQ(payload_of({"b={\"y\":2}"}, R"({"b":{"x":1}})"), json::parse(R"({"b":{"y":2}})"));  // not deep
}

TEST(TriggerPayload, NonObjectJsonWithTokensIsAnError) {
  EXPECT_EQ(error_of({"a=1"}, "[1,2,3]"), "--json must be an object when combined with kv pairs");
  EXPECT_EQ(error_of({"a=1"}, "5"), "--json must be an object when combined with kv pairs");
}

TEST(TriggerPayload, InvalidJsonReportedEvenWithTokens) {
  EXPECT_EQ(error_of({"a=1"}, "{"), "--json: invalid JSON `{`");
}

TEST(PrettyJson, TwoSpaceIndentLikeTheReferenceCli) {
  EXPECT_EQ(pretty_json(json::parse(R"({"c":30})")), "{\n  \"c\": 30\n}");
  EXPECT_EQ(pretty_json(json::parse(R"({"a":[1,{"b":null}],"e":{},"f":[],"s":"x\"y"})")),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"e\": {},\n  \"f\": [],\n"
            "  \"s\": \"x\\\"y\"\n}");
  EXPECT_EQ(pretty_json(json::value(1.5)), "1.5");
  EXPECT_EQ(pretty_json(json::value(5.0)), "5.0");
  EXPECT_EQ(pretty_json(json::value("text")), "\"text\"");
  EXPECT_EQ(pretty_json(json::value(true)), "true");
}

}  // namespace
