// read_json_members (core/json_members.h): the top-level members of an input read without a DOM,
// with the DOM's answers and errors whenever the fast pass does not take the text.
#include "core/json_members.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wire/json_limits.h"

namespace iii {
namespace {

struct Read {
  std::string error;
  std::vector<JsonMember> members;
};

Read read(std::string_view json, std::vector<JsonMember> members) {
  Read r{"", std::move(members)};
  r.error = read_json_members(json, r.members);
  return r;
}

TEST(JsonMembersTest, ReadsStringsUnescapedAndRawValuesAsWritten) {
  Read r = read(R"({"scope":"a\"b\u00e9","skip":[1,{"x":null}],"value": {"n": 1.50, "s": "\n"} ,"key":"k"})",
                {{"scope"}, {"key"}, {"value", true}, {"data", true}});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.members[0].kind, JsonKind::kString);
  EXPECT_EQ(r.members[0].text, "a\"b\xc3\xa9");
  EXPECT_EQ(r.members[1].text, "k");
  EXPECT_EQ(r.members[2].kind, JsonKind::kObject);
  EXPECT_EQ(r.members[2].text, R"({"n": 1.50, "s": "\n"})");  // the caller's text: nothing rebuilt
  EXPECT_EQ(r.members[3].kind, JsonKind::kAbsent);
}

TEST(JsonMembersTest, RawMembersOfEveryKind) {
  const std::pair<const char*, JsonKind> cases[] = {
      {R"("text")", JsonKind::kString}, {"-1e5", JsonKind::kNumber},
      {"true", JsonKind::kBoolean},      {"null", JsonKind::kNull},                      {"[1, [2]]", JsonKind::kArray},
  };
  for (const auto& [text, kind] : cases) {
    Read r = read(std::string(R"({"value":)") + text + " }", {{"value", true}});
    ASSERT_EQ(r.error, "") << text;
    EXPECT_EQ(r.members[0].kind, kind) << text;
    EXPECT_EQ(r.members[0].text, text);
  }
}

TEST(JsonMembersTest, AnIntegerBeyond64BitsIsANumber) {
  // Read as the DOM reads it when the fast pass does not take it: the same number either way.
  Read r = read(R"({"value":12345678901234567890123})", {{"value", true}});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.members[0].kind, JsonKind::kNumber);
  EXPECT_DOUBLE_EQ(std::stod(r.members[0].text), 12345678901234567890123.0) << r.members[0].text;
}

TEST(JsonMembersTest, TheLastOfDuplicateNamesWins) {
  Read r = read(R"({"key":"first","key":"second"})", {{"key"}});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.members[0].text, "second");
}

TEST(JsonMembersTest, BlankTextAndNullReadAsAnEmptyObject) {
  for (const char* text : {"", "  \n", "null", " null "}) {
    Read r = read(text, {{"scope"}});
    EXPECT_EQ(r.error, "") << text;
    EXPECT_EQ(r.members[0].kind, JsonKind::kAbsent) << text;
  }
}

TEST(JsonMembersTest, OtherTopLevelTypesAreRefusedByName) {
  EXPECT_EQ(read("[1]", {{"scope"}}).error, "invalid type: array, expected a JSON object");
  EXPECT_EQ(read("\"s\"", {{"scope"}}).error, "invalid type: string, expected a JSON object");
  EXPECT_EQ(read("7", {{"scope"}}).error, "invalid type: number, expected a JSON object");
}

TEST(JsonMembersTest, InvalidJsonAnywhereIsAnErrorAndReadsNothing) {
  for (const char* text : {R"({"scope":"s","other":{"a":tru}})", R"({"scope":"s","value":[1,}])", R"({"scope":"s"} x)",
                           R"({"scope":"s")", R"({"scope":"bad \x escape"})", "{\"scope\":\"\xff\"}"}) {
    Read r = read(text, {{"scope"}, {"value", true}});
    EXPECT_TRUE(r.error.starts_with("invalid JSON: ")) << text << " -> " << r.error;
    EXPECT_EQ(r.members[0].kind, JsonKind::kAbsent) << text;
  }
}

TEST(JsonMembersTest, DeeperThanTheLimitIsRefused) {
  set_json_depth_limit(4);
  Read deep = read(R"({"value":[[[[[1]]]]]})", {{"value", true}});
  Read shallow = read(R"({"value":[[1]]})", {{"value", true}});
  set_json_depth_limit(kDefaultJsonDepth);
  EXPECT_TRUE(deep.error.starts_with("invalid JSON: ")) << deep.error;
  EXPECT_EQ(shallow.error, "");
  EXPECT_EQ(shallow.members[0].text, "[[1]]");
}

TEST(JsonMembersTest, KindNames) {
  EXPECT_STREQ(json_kind_name(JsonKind::kBoolean), "boolean");
  EXPECT_STREQ(json_kind_name(JsonKind::kNull), "null");
  EXPECT_STREQ(json_kind_name(JsonKind::kAbsent), "absent");
}

}  // namespace
}  // namespace iii
