// core/json_text.h: serialization that keeps floats floats, and serde's wording for unexpected
// values (describe), shared by every built-in's input errors.
#include "core/json_text.h"

#include <gtest/gtest.h>

namespace iii {
namespace {

boost::json::value parse(std::string_view text) { return json_text::parse(text).value(); }

TEST(JsonText, DescribeUsesSerdeWording) {
  EXPECT_EQ(json_text::describe(parse("null")), "null");
  EXPECT_EQ(json_text::describe(parse("true")), "boolean `true`");
  EXPECT_EQ(json_text::describe(parse("-5")), "integer `-5`");
  EXPECT_EQ(json_text::describe(parse("18446744073709551615")), "integer `18446744073709551615`");
  EXPECT_EQ(json_text::describe(parse("1.5")), "floating point `1.5`");
  EXPECT_EQ(json_text::describe(parse("2.0")), "floating point `2.0`");
  EXPECT_EQ(json_text::describe(parse(R"("a\"b")")), R"(string "a\"b")");
  EXPECT_EQ(json_text::describe(parse("[1]")), "sequence");
  EXPECT_EQ(json_text::describe(parse(R"({"a":1})")), "map");
}

TEST(JsonText, SerializeKeepsFloatsAndWritesNonFiniteAsNull) {
  EXPECT_EQ(json_text::serialize(parse(R"({"a":[1,2.0,"x",null,true]})")), R"({"a":[1,2.0,"x",null,true]})");
  EXPECT_EQ(json_text::serialize(boost::json::value(std::numeric_limits<double>::infinity())), "null");
}

TEST(JsonText, ParseReportsWhyTextIsNotJson) {
  std::string error;
  EXPECT_FALSE(json_text::parse("{\"a\":", &error).has_value());
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace iii
