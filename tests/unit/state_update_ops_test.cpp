// The update-operations engine (docs/builtins.md §0.4): every op, every path and value rule, every
// error code, and the parse errors of a malformed op list.
#include "core/update_ops.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/json_text.h"

namespace iii::update_ops {
namespace {

namespace json = boost::json;

json::value parse_json(std::string_view text) {
  auto v = json_text::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

// Applies `ops` (JSON text) to `current` (JSON text, or "" for a missing value).
Result run(std::string_view current, std::string_view ops) {
  std::optional<json::value> start;
  if (!current.empty()) start = parse_json(current);
  return update_ops::apply(std::move(start), update_ops::parse(parse_json(ops)));
}

// The resulting value as compact JSON, asserting that no op failed.
std::string ok(std::string_view current, std::string_view ops) {
  Result r = run(current, ops);
  for (const OpError& e : r.errors) ADD_FAILURE() << "op " << e.op_index << ": " << e.code << ": " << e.message;
  return json_text::serialize(r.value);
}

std::vector<std::string> codes_of(const Result& r) {
  std::vector<std::string> out;
  for (const OpError& e : r.errors) out.push_back(e.code);
  return out;
}

using Codes = std::vector<std::string>;

// --- set ---

TEST(StateUpdateOps, SetWritesATopLevelKey) {
  EXPECT_EQ(ok(R"({"a":1})", R"([{"type":"set","path":"b","value":{"x":true}}])"), R"({"a":1,"b":{"x":true}})");
  EXPECT_EQ(ok(R"({"a":1})", R"([{"type":"set","path":"a","value":2}])"), R"({"a":2})");
}

TEST(StateUpdateOps, SetEmptyPathReplacesTheRoot) {
  EXPECT_EQ(ok(R"({"a":1})", R"([{"type":"set","path":"","value":[1,2]}])"), "[1,2]");
  EXPECT_EQ(ok(R"({"":"x","keep":true})", R"([{"type":"set","path":""}])"), "null");  // absent value = null
  EXPECT_EQ(ok(R"({})", R"([{"type":"set","path":"k"}])"), R"({"k":null})");
}

TEST(StateUpdateOps, SetOnANonObjectRootFails) {
  Result r = run("5", R"([{"type":"set","path":"a","value":1}])");
  EXPECT_EQ(codes_of(r), Codes{"set.target_not_object"});
  EXPECT_EQ(r.errors[0].message, "Cannot set at path 'a': target is number, expected object.");
  EXPECT_EQ(json_text::serialize(r.value), "5");
}

TEST(StateUpdateOps, MissingValueStartsFromAnEmptyObject) {
  EXPECT_EQ(ok("", R"([{"type":"set","path":"a","value":1}])"), R"({"a":1})");
  EXPECT_EQ(ok("", "[]"), "{}");
}

TEST(StateUpdateOps, DotsAreNeverSeparators) {
  EXPECT_EQ(ok(R"({"a":{"b":1}})", R"([{"type":"set","path":"a.b","value":2}])"), R"({"a":{"b":1},"a.b":2})");
  EXPECT_EQ(ok(R"({"user.name":["A"],"user":{"name":["B"]}})", R"([{"type":"append","path":"user.name","value":"C"}])"),
            R"({"user.name":["A","C"],"user":{"name":["B"]}})");
  EXPECT_EQ(ok(R"({"a":{"b":{"p":true}}})", R"([{"type":"merge","path":["a.b"],"value":{"x":1}}])"),
            R"({"a":{"b":{"p":true}},"a.b":{"x":1}})");
}

// --- merge ---

TEST(StateUpdateOps, MergeAtTheRootIsShallow) {
  const char* start = R"({"a":1,"n":{"x":1,"y":2}})";
  const char* expected = R"({"a":1,"n":{"z":3},"b":2})";
  EXPECT_EQ(ok(start, R"([{"type":"merge","value":{"b":2,"n":{"z":3}}}])"), expected);
  EXPECT_EQ(ok(start, R"([{"type":"merge","path":"","value":{"b":2,"n":{"z":3}}}])"), expected);
  EXPECT_EQ(ok(start, R"([{"type":"merge","path":[],"value":{"b":2,"n":{"z":3}}}])"), expected);
  EXPECT_EQ(ok(start, R"([{"type":"merge","path":null,"value":{"b":2,"n":{"z":3}}}])"), expected);
}

TEST(StateUpdateOps, MergeIntoAFirstLevelKey) {
  EXPECT_EQ(ok(R"({"s":{"t1":"a"}})", R"([{"type":"merge","path":"s","value":{"t2":"b"}}])"), R"({"s":{"t1":"a","t2":"b"}})");
  EXPECT_EQ(ok(R"({})", R"([{"type":"merge","path":"s","value":{"x":1}}])"), R"({"s":{"x":1}})");
  EXPECT_EQ(ok(R"({})", R"([{"type":"merge","path":["s"],"value":{"x":1}}])"), R"({"s":{"x":1}})");
}

TEST(StateUpdateOps, MergeAtANestedPathCreatesAndReplacesIntermediates) {
  EXPECT_EQ(ok(R"({})", R"([{"type":"merge","path":["a","b","c"],"value":{"x":1}}])"), R"({"a":{"b":{"c":{"x":1}}}})");
  EXPECT_EQ(ok(R"({"s":{"abc":"garbage"}})", R"([{"type":"merge","path":["s","abc"],"value":{"u":1}}])"),
            R"({"s":{"abc":{"u":1}}})");
  EXPECT_EQ(ok(R"({"s":{"abc":{"author":"old","topic":"kept"}}})",
               R"([{"type":"merge","path":["s","abc"],"value":{"author":"new"}}])"),
            R"({"s":{"abc":{"author":"new","topic":"kept"}}})");
  // A non-object root is replaced too when the path is not empty.
  EXPECT_EQ(ok(R"("leaf")", R"([{"type":"merge","path":["a"],"value":{"x":1}}])"), R"({"a":{"x":1}})");
}

TEST(StateUpdateOps, MergeIntoANonObjectRootIsReported) {
  Result r = run(R"("leaf")", R"([{"type":"merge","value":{"a":1}}])");
  EXPECT_EQ(codes_of(r), Codes{"merge.target_not_object"});
  EXPECT_EQ(json_text::serialize(r.value), R"("leaf")");
}

TEST(StateUpdateOps, MergeValueRules) {
  Result r = run(R"({"a":1})", R"([{"type":"merge","path":"foo","value":"not-an-object"}])");
  EXPECT_EQ(codes_of(r), Codes{"merge.value.not_an_object"});
  EXPECT_EQ(json_text::serialize(r.value), R"({"a":1})");
  EXPECT_EQ(codes_of(run("{}", R"([{"type":"merge","value":null}])")), Codes{"merge.value.not_an_object"});
  EXPECT_EQ(codes_of(run("{}", R"([{"type":"merge","value":[1]}])")), Codes{"merge.value.not_an_object"});

  for (const char* sink : {"__proto__", "constructor", "prototype"}) {
    std::string ops = std::string(R"([{"type":"merge","path":"foo","value":{")") + sink + R"(":{"p":true}}}])";
    EXPECT_EQ(codes_of(run("{}", ops)), Codes{"merge.value.proto_polluted"}) << sink;
  }
  // Nested keys with those names are fine: only top-level keys are checked.
  EXPECT_EQ(ok("{}", R"([{"type":"merge","value":{"a":{"__proto__":1}}}])"), R"({"a":{"__proto__":1}})");

  json::object many;
  for (size_t i = 0; i <= kMaxValueKeys; ++i) many["k" + std::to_string(i)] = i;
  json::array ops{json::object{{"type", "merge"}, {"value", many}}};
  EXPECT_EQ(codes_of(update_ops::apply(json::object(), update_ops::parse(ops))), Codes{"merge.value.too_many_keys"});
  many.erase("k0");  // exactly the maximum is fine
  ops = json::array{json::object{{"type", "merge"}, {"value", many}}};
  EXPECT_TRUE(update_ops::apply(json::object(), update_ops::parse(ops)).errors.empty());
}

// A value of nesting depth `d`: {} is 1, {"n":{}} is 2, ...
json::value nested(size_t d) {
  json::value v = json::object();
  for (size_t i = 1; i < d; ++i) v = json::object{{"n", v}};
  return v;
}

TEST(StateUpdateOps, MergeValueDepthLimit) {
  auto merge_of = [](json::value v) { return json::array{json::object{{"type", "merge"}, {"path", "f"}, {"value", v}}}; };
  EXPECT_TRUE(update_ops::apply(std::nullopt, update_ops::parse(merge_of(nested(kMaxValueDepth)))).errors.empty());
  Result r = update_ops::apply(std::nullopt, update_ops::parse(merge_of(nested(kMaxValueDepth + 1))));
  EXPECT_EQ(codes_of(r), Codes{"merge.value.too_deep"});
  EXPECT_EQ(json_text::serialize(r.value), "{}");
  // Arrays count as nesting too.
  json::value arrays = json::object{{"a", json::array{json::array{}}}};  // depth 3
  for (size_t i = 3; i <= kMaxValueDepth; ++i) arrays = json::object{{"n", arrays}};
  EXPECT_EQ(codes_of(update_ops::apply(std::nullopt, update_ops::parse(merge_of(arrays)))), Codes{"merge.value.too_deep"});
}

// --- path rules (every op) ---

TEST(StateUpdateOps, PathRulesForMerge) {
  json::array deep;
  for (size_t i = 0; i <= kMaxPathDepth; ++i) deep.push_back(json::string("k" + std::to_string(i)));
  auto merge_at = [](json::value path) {
    return json::array{json::object{{"type", "merge"}, {"path", path}, {"value", json::object{{"x", 1}}}}};
  };
  Result r = update_ops::apply(json::object(), update_ops::parse(merge_at(deep)));
  EXPECT_EQ(codes_of(r), Codes{"merge.path.too_deep"});
  EXPECT_EQ(r.errors[0].message, "Path depth 33 exceeds maximum of 32");
  deep.pop_back();
  EXPECT_TRUE(update_ops::apply(json::object(), update_ops::parse(merge_at(deep))).errors.empty());

  EXPECT_EQ(codes_of(update_ops::apply(json::object(), update_ops::parse(merge_at(json::array{std::string(kMaxSegmentBytes + 1, 'a')})))),
            Codes{"merge.path.segment_too_long"});
  EXPECT_TRUE(update_ops::apply(json::object(), update_ops::parse(merge_at(json::array{std::string(kMaxSegmentBytes, 'a')}))).errors.empty());
  EXPECT_EQ(codes_of(update_ops::apply(json::object(), update_ops::parse(merge_at(json::array{"a", ""})))), Codes{"merge.path.empty_segment"});
  for (const char* sink : {"__proto__", "constructor", "prototype"})
    EXPECT_EQ(codes_of(update_ops::apply(json::object(), update_ops::parse(merge_at(json::array{"a", sink})))), Codes{"merge.path.proto_polluted"});
}

TEST(StateUpdateOps, PathRulesForTheOtherOpsUseTheirOwnPrefix) {
  for (const char* sink : {"__proto__", "constructor", "prototype"}) {
    const std::string p = std::string("\"") + sink + "\"";
    struct Case {
      std::string ops, code;
    } cases[] = {
        {R"([{"type":"set","path":)" + p + R"(,"value":true}])", "set.path.proto_polluted"},
        {R"([{"type":"append","path":)" + p + R"(,"value":"x"}])", "append.path.proto_polluted"},
        {R"([{"type":"increment","path":)" + p + R"(,"by":1}])", "increment.path.proto_polluted"},
        {R"([{"type":"decrement","path":)" + p + R"(,"by":1}])", "decrement.path.proto_polluted"},
        {R"([{"type":"remove","path":)" + p + R"(}])", "remove.path.proto_polluted"},
    };
    for (const Case& c : cases) {
      Result r = run("{}", c.ops);
      EXPECT_EQ(codes_of(r), Codes{c.code}) << c.ops;
      EXPECT_EQ(json_text::serialize(r.value), "{}") << c.ops;
    }
  }
  const std::string big(kMaxSegmentBytes + 1, 'a');
  EXPECT_EQ(codes_of(run("{}", R"([{"type":"append","path":")" + big + R"(","value":"x"}])")),
            Codes{"append.path.segment_too_long"});
  EXPECT_EQ(codes_of(run("{}", R"([{"type":"set","path":")" + big + R"(","value":1}])")), Codes{"set.path.segment_too_long"});
  EXPECT_EQ(codes_of(run("{}", R"([{"type":"append","path":["a",""],"value":"x"}])")), Codes{"append.path.empty_segment"});
  json::array deep;
  for (size_t i = 0; i <= kMaxPathDepth; ++i) deep.push_back(json::string("k"));
  EXPECT_EQ(codes_of(update_ops::apply(json::object(), update_ops::parse(json::array{json::object{{"type", "append"}, {"path", deep}, {"value", 1}}}))),
            Codes{"append.path.too_deep"});
}

TEST(StateUpdateOps, ErrorsCarryIndexMessageAndDocUrl) {
  Result r = run(R"({"bad":"v"})", R"([{"type":"set","path":"ok","value":1},{"type":"increment","path":"bad","by":1}])");
  ASSERT_EQ(r.errors.size(), 1u);
  json::array errors = errors_to_json(r.errors);
  EXPECT_EQ(json_text::serialize(errors),
            R"([{"op_index":1,"code":"increment.not_number","message":"Expected number at path 'bad', got string.",)"
            R"("doc_url":"https://iii.dev/docs/workers/iii-state#error-codes"}])");
}

// --- increment / decrement ---

TEST(StateUpdateOps, IncrementAndDecrement) {
  EXPECT_EQ(ok(R"({"count":2})", R"([{"type":"increment","path":"count","by":3},{"type":"increment","path":"new","by":3}])"),
            R"({"count":5,"new":3})");
  EXPECT_EQ(ok(R"({"count":5})", R"([{"type":"decrement","path":"count","by":3},{"type":"decrement","path":"new","by":3}])"),
            R"({"count":2,"new":-3})");
  EXPECT_EQ(ok(R"({"c":10})", R"([{"type":"increment","path":"c","by":5},{"type":"decrement","path":"c","by":3}])"),
            R"({"c":12})");
  EXPECT_EQ(ok(R"({"c":1})", R"([{"type":"increment","path":"c","by":-4}])"), R"({"c":-3})");
}

TEST(StateUpdateOps, FloatsStayFloatsAndIntegersStayIntegers) {
  EXPECT_EQ(ok(R"({"c":1.5})", R"([{"type":"increment","path":"c","by":2},{"type":"decrement","path":"c","by":1}])"),
            R"({"c":2.5})");
  EXPECT_EQ(ok(R"({"c":2.0})", R"([{"type":"increment","path":"c","by":1}])"), R"({"c":3.0})");
  EXPECT_EQ(ok(R"({"c":2})", R"([{"type":"increment","path":"c","by":1}])"), R"({"c":3})");
}

TEST(StateUpdateOps, NumericOpsOnTheRoot) {
  EXPECT_EQ(ok("2", R"([{"type":"increment","path":"","by":3}])"), "5");
  EXPECT_EQ(ok("5", R"([{"type":"decrement","path":"","by":3}])"), "2");
  EXPECT_EQ(ok("", R"([{"type":"increment","path":"","by":7}])"), "7");   // missing value: starts at by
  EXPECT_EQ(ok("", R"([{"type":"decrement","path":"","by":7}])"), "-7");
  // Once an op wrote the default {}, the root is an object, not a number.
  EXPECT_EQ(codes_of(run("", R"([{"type":"set","path":"a","value":1},{"type":"increment","path":"","by":1}])")),
            Codes{"increment.not_number"});
  EXPECT_EQ(codes_of(run("{}", R"([{"type":"increment","path":"","by":1}])")), Codes{"increment.not_number"});
}

TEST(StateUpdateOps, NumericOpsRejectNonNumbers) {
  Result r = run(R"({"count":2,"bad":"v","nul":null})",
                 R"([{"type":"increment","path":"count","by":3},{"type":"increment","path":"bad","by":3},)"
                 R"({"type":"decrement","path":"nul","by":1},{"type":"increment","path":"missing","by":3},)"
                 R"({"type":"increment","path":"bad","by":0}])");
  EXPECT_EQ(json_text::serialize(r.value), R"({"count":5,"bad":"v","nul":null,"missing":3})");
  EXPECT_EQ(codes_of(r), (Codes{"increment.not_number", "decrement.not_number", "increment.not_number"}));
  EXPECT_EQ(r.errors[0].op_index, 1u);
  EXPECT_EQ(r.errors[1].op_index, 2u);
  EXPECT_EQ(r.errors[2].op_index, 4u);
  EXPECT_EQ(codes_of(run("[1]", R"([{"type":"increment","path":"a","by":1}])")), Codes{"increment.target_not_object"});
  EXPECT_EQ(codes_of(run("true", R"([{"type":"decrement","path":"a","by":1}])")), Codes{"decrement.target_not_object"});
}

TEST(StateUpdateOps, IntegerOverflowMovesToUnsignedThenFails) {
  EXPECT_EQ(ok(R"({"c":9223372036854775807})", R"([{"type":"increment","path":"c","by":1}])"),
            R"({"c":9223372036854775808})");
  EXPECT_EQ(ok(R"({"i":9223372036854775817,"d":9223372036854775817})",
               R"([{"type":"increment","path":"i","by":1},{"type":"decrement","path":"d","by":1}])"),
            R"({"i":9223372036854775818,"d":9223372036854775816})");
  EXPECT_EQ(ok(R"({"c":9223372036854775808})", R"([{"type":"decrement","path":"c","by":1}])"),
            R"({"c":9223372036854775807})");
  EXPECT_EQ(ok("{}", R"([{"type":"decrement","path":"c","by":-9223372036854775808}])"), R"({"c":9223372036854775808})");
  Result r = run(R"({"c":18446744073709551615})", R"([{"type":"increment","path":"c","by":1}])");
  EXPECT_EQ(codes_of(r), Codes{"increment.overflow"});
  EXPECT_EQ(json_text::serialize(r.value), R"({"c":18446744073709551615})");
  EXPECT_EQ(codes_of(run(R"({"c":-9223372036854775808})", R"([{"type":"decrement","path":"c","by":1}])")),
            Codes{"decrement.overflow"});
  EXPECT_EQ(codes_of(run(R"({"c":1.7e308})", R"([{"type":"increment","path":"c","by":1}])")), Codes{});  // finite
}

// --- append ---

TEST(StateUpdateOps, AppendToArraysAndStrings) {
  EXPECT_EQ(ok(R"({"e":[{"k":"start"}]})", R"([{"type":"append","path":"e","value":{"k":"chunk"}}])"),
            R"({"e":[{"k":"start"},{"k":"chunk"}]})");
  EXPECT_EQ(ok(R"({"e":[]})", R"([{"type":"append","path":"e","value":["n","a"]}])"), R"({"e":[["n","a"]]})");
  EXPECT_EQ(ok(R"({"t":"hello"})", R"([{"type":"append","path":"t","value":" world"}])"), R"({"t":"hello world"})");
  EXPECT_EQ(ok(R"({"e":[]})", R"([{"type":"append","path":"e","value":"1"},{"type":"append","path":"e","value":"2"}])"),
            R"({"e":["1","2"]})");
}

TEST(StateUpdateOps, AppendInitialisesMissingAndNullKeysByValueKind) {
  EXPECT_EQ(ok("{}", R"([{"type":"append","path":"t","value":"hello"},{"type":"append","path":"e","value":{"k":1}}])"),
            R"({"t":"hello","e":[{"k":1}]})");
  EXPECT_EQ(ok(R"({"s":null,"a":null})", R"([{"type":"append","path":"s","value":"c"},{"type":"append","path":"a","value":1}])"),
            R"({"s":"c","a":[1]})");
}

TEST(StateUpdateOps, AppendAtTheRoot) {
  EXPECT_EQ(ok("", R"([{"type":"append","path":"","value":"hello"}])"), R"("hello")");
  EXPECT_EQ(ok("", R"([{"type":"append","value":{"k":1}}])"), R"([{"k":1}])");
  EXPECT_EQ(ok("", R"([{"type":"append","path":[],"value":1}])"), "[1]");
  EXPECT_EQ(ok("[1]", R"([{"type":"append","value":2}])"), "[1,2]");
  EXPECT_EQ(ok(R"("ab")", R"([{"type":"append","value":"c"}])"), R"("abc")");
  EXPECT_EQ(ok("null", R"([{"type":"append","value":"c"}])"), R"("c")");
  EXPECT_EQ(codes_of(run("{}", R"([{"type":"append","value":1}])")), Codes{"append.type_mismatch"});
}

TEST(StateUpdateOps, AppendTypeMismatches) {
  Result r = run(R"({"t":"hello"})", R"([{"type":"append","path":"t","value":{"not":"string"}}])");
  EXPECT_EQ(codes_of(r), Codes{"append.type_mismatch"});
  EXPECT_EQ(r.errors[0].message, "Expected string append value at path 't', got object.");
  EXPECT_EQ(json_text::serialize(r.value), R"({"t":"hello"})");
  r = run(R"({"e":{}})", R"([{"type":"append","path":"e","value":"chunk"}])");
  EXPECT_EQ(codes_of(r), Codes{"append.type_mismatch"});
  EXPECT_EQ(r.errors[0].message,
            "Cannot append at path 'e': target is object, expected array, string, null, or missing field.");
  EXPECT_EQ(codes_of(run(R"({"n":5})", R"([{"type":"append","path":"n","value":1}])")), Codes{"append.type_mismatch"});
}

TEST(StateUpdateOps, AppendAtANestedPath) {
  EXPECT_EQ(ok(R"({"id":{"buf":["a"]}})", R"([{"type":"append","path":["id","buf"],"value":"b"}])"),
            R"({"id":{"buf":["a","b"]}})");
  EXPECT_EQ(ok("{}", R"([{"type":"append","path":["id","buf"],"value":"a"}])"), R"({"id":{"buf":["a"]}})");
  // A missing leaf under a nested path is always an array; a single key keeps the string tier.
  EXPECT_EQ(ok(R"({"id":{}})", R"([{"type":"append","path":["id","buf"],"value":"x"}])"), R"({"id":{"buf":["x"]}})");
  EXPECT_EQ(ok("{}", R"([{"type":"append","path":["buf"],"value":"x"}])"), R"({"buf":"x"})");
  EXPECT_EQ(ok(R"({"id":{"buf":"ab"}})", R"([{"type":"append","path":["id","buf"],"value":"c"}])"),
            R"({"id":{"buf":"abc"}})");
  EXPECT_EQ(ok(R"({"id":"junk"})", R"([{"type":"append","path":["id","buf"],"value":1}])"), R"({"id":{"buf":[1]}})");
  Result r = run(R"({"id":{"buf":{"x":"y"}}})", R"([{"type":"append","path":["id","buf"],"value":"z"}])");
  EXPECT_EQ(codes_of(r), Codes{"append.type_mismatch"});
  EXPECT_EQ(json_text::serialize(r.value), R"({"id":{"buf":{"x":"y"}}})");
}

TEST(StateUpdateOps, AppendWithAPathNeedsAnObjectRoot) {
  for (const char* path : {R"(["a","b"])", R"("a")"}) {
    Result r = run("[1,2,3]", std::string(R"([{"type":"append","path":)") + path + R"(,"value":"x"}])");
    EXPECT_EQ(codes_of(r), Codes{"append.target_not_object"});
    EXPECT_EQ(json_text::serialize(r.value), "[1,2,3]");
  }
  EXPECT_EQ(run("[1]", R"([{"type":"append","path":["a","b"],"value":"x"}])").errors[0].message,
            "Cannot append at path '[a, b]': target is array, expected object.");
}

TEST(StateUpdateOps, AppendPathValidationHappensBeforeAnythingIsCreated) {
  Result r = run("{}", R"([{"type":"append","path":["a","constructor","b"],"value":"x"}])");
  EXPECT_EQ(codes_of(r), Codes{"append.path.proto_polluted"});
  EXPECT_EQ(json_text::serialize(r.value), "{}");
}

// --- remove ---

TEST(StateUpdateOps, Remove) {
  EXPECT_EQ(ok(R"({"a":1,"b":2})", R"([{"type":"remove","path":"a"}])"), R"({"b":2})");
  EXPECT_EQ(ok(R"({"a":1})", R"([{"type":"remove","path":"missing"}])"), R"({"a":1})");  // silent no-op
  EXPECT_EQ(ok(R"({"":"x","keep":true})", R"([{"type":"remove","path":""}])"), "null");
  EXPECT_EQ(codes_of(run(R"("s")", R"([{"type":"remove","path":"a"}])")), Codes{"remove.target_not_object"});
}

// --- batches ---

TEST(StateUpdateOps, FailedOpsAreSkippedAndTheOthersApply) {
  Result r = run(R"({"bad":"value","events":{}})",
                 R"([{"type":"increment","path":"bad","by":1},{"type":"set","path":"__proto__","value":true},)"
                 R"({"type":"append","path":"events","value":"chunk"},{"type":"set","path":"ok","value":true}])");
  EXPECT_EQ(json_text::serialize(r.value), R"({"bad":"value","events":{},"ok":true})");
  EXPECT_EQ(codes_of(r), (Codes{"increment.not_number", "set.path.proto_polluted", "append.type_mismatch"}));
  EXPECT_EQ(r.errors[0].op_index, 0u);
  EXPECT_EQ(r.errors[1].op_index, 1u);
  EXPECT_EQ(r.errors[2].op_index, 2u);
}

// --- parsing ---

std::string parse_error(std::string_view ops) {
  try {
    update_ops::parse(parse_json(ops));
  } catch (const ParseError& e) {
    return e.what();
  }
  return "(parsed)";
}

TEST(StateUpdateOpsParse, MalformedOpListsAreRejectedWhole) {
  EXPECT_EQ(parse_error(R"({"type":"set"})"), "ops: invalid type: map, expected a sequence");
  EXPECT_EQ(parse_error(R"([1])"), "ops[0]: invalid type: integer `1`, expected an update op object");
  EXPECT_EQ(parse_error(R"([{"path":"a"}])"), "ops[0]: missing field `type`");
  EXPECT_EQ(parse_error(R"([{"type":"set","path":"a"},{"type":"explode"}])"),
            "ops[1].type: unknown variant \"explode\", expected one of `set`, `merge`, `increment`, `decrement`, "
            "`append`, `remove`");
  EXPECT_EQ(parse_error(R"([{"type":"set","value":1}])"), "ops[0]: missing field `path`");
  EXPECT_EQ(parse_error(R"([{"type":"set","path":["a"],"value":1}])"),
            "ops[0].path: invalid type: sequence, expected a string");
  EXPECT_EQ(parse_error(R"([{"type":"remove","path":null}])"), "ops[0].path: invalid type: null, expected a string");
  EXPECT_EQ(parse_error(R"([{"type":"increment","path":"a"}])"), "ops[0]: missing field `by`");
  EXPECT_EQ(parse_error(R"([{"type":"increment","path":"a","by":1.5}])"),
            "ops[0].by: invalid type: floating point `1.5`, expected i64");
  EXPECT_EQ(parse_error(R"([{"type":"decrement","path":"a","by":"1"}])"),
            "ops[0].by: invalid type: string \"1\", expected i64");
  EXPECT_EQ(parse_error(R"([{"type":"increment","path":"a","by":9223372036854775808}])"),
            "ops[0].by: invalid value: integer `9223372036854775808`, expected i64");
  EXPECT_EQ(parse_error(R"([{"type":"merge","path":"a"}])"), "ops[0]: missing field `value`");
  EXPECT_EQ(parse_error(R"([{"type":"append","path":"a"}])"), "ops[0]: missing field `value`");
  EXPECT_EQ(parse_error(R"([{"type":"merge","path":5,"value":{}}])"),
            "ops[0].path: invalid type: integer `5`, expected a string or an array of strings");
  EXPECT_EQ(parse_error(R"([{"type":"append","path":["a",1],"value":1}])"),
            "ops[0].path[1]: invalid type: integer `1`, expected a string");
  EXPECT_EQ(parse_error(R"([{"type":"set","path":"a","value":1,"extra":true}])"), "(parsed)");  // extra keys ignored
}

TEST(StateUpdateOpsParse, FieldsAreDecoded) {
  std::vector<Op> ops = update_ops::parse(parse_json(
      R"([{"type":"set","path":"a"},{"type":"merge","path":["x","y"],"value":{"k":1}},)"
      R"({"type":"increment","path":"n","by":-2},{"type":"append","value":3},{"type":"remove","path":""}])"));
  ASSERT_EQ(ops.size(), 5u);
  EXPECT_EQ(ops[0].type, OpType::kSet);
  EXPECT_EQ(ops[0].path, std::vector<std::string>{"a"});
  EXPECT_TRUE(ops[0].value.is_null());
  EXPECT_EQ(ops[1].path, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(ops[2].by, -2);
  EXPECT_TRUE(ops[3].path.empty());
  EXPECT_EQ(ops[4].type, OpType::kRemove);
  EXPECT_TRUE(ops[4].path.empty());
}

}  // namespace
}  // namespace iii::update_ops
