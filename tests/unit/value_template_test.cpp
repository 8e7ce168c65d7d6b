// `${VAR:default}` expansion and re-typing of configuration values
// (workers/configuration/value_template.h), and the YAML typing it shares with the config file.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>

#include "workers/configuration/value_template.h"
#include "workers/yaml_json.h"

#include <yaml-cpp/yaml.h>

namespace iii {
namespace {

namespace json = boost::json;

// Test texts are valid JSON: boost's parser throws on a typo.
json::value parse(std::string_view text) { return json::parse(text); }

json::value expanded(std::string_view text) {
  auto out = value_template::expand(parse(text));
  EXPECT_TRUE(out.missing.empty()) << text;
  return out.value;
}

class ValueTemplate : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("VT_PORT", "8080", 1);
    ::setenv("VT_HOST", "db.local", 1);
    ::setenv("VT_EMPTY", "", 1);
    ::unsetenv("VT_UNSET");
  }
};

TEST_F(ValueTemplate, ExpandsEveryStringAtAnyDepth) {
  EXPECT_EQ(expanded(R"({"host":"${VT_HOST:x}","list":[{"h":"${VT_HOST}"}],"n":5,"b":true,"z":null})"),
            parse(R"({"host":"db.local","list":[{"h":"db.local"}],"n":5,"b":true,"z":null})"));
  EXPECT_EQ(expanded(R"({"${VT_HOST}":1})"), parse(R"({"${VT_HOST}":1})"));  // keys are not values
  EXPECT_EQ(expanded(R"("${VT_UNSET:http://a:1/b}")"), parse(R"("http://a:1/b")"));  // the default runs to `}`
  EXPECT_EQ(expanded(R"("${VT_EMPTY:fallback}")"), parse(R"("")"));  // set to "" counts as set
  EXPECT_EQ(expanded(R"("${VT_UNSET:__III_ENGINE_VERSION__}")"), json::value(III_VERSION));
  EXPECT_EQ(expanded(R"("$VT_HOST ${} ${:x} ${VT_HOST")"), parse(R"("$VT_HOST ${} ${:x} ${VT_HOST")"));
}

TEST_F(ValueTemplate, ALonePlaceholderIsRetyped) {
  EXPECT_EQ(expanded(R"("${VT_PORT:3111}")"), json::value(8080));
  EXPECT_TRUE(expanded(R"("${VT_UNSET:3111}")").is_int64());
  EXPECT_EQ(expanded(R"(" ${VT_UNSET:3111} ")"), json::value(3111));
  EXPECT_EQ(expanded(R"("${VT_UNSET:true}")"), json::value(true));
  EXPECT_EQ(expanded(R"("${VT_UNSET:3.5}")"), json::value(3.5));
  EXPECT_EQ(expanded(R"("${VT_UNSET:null}")"), json::value(nullptr));
  EXPECT_EQ(expanded(R"("${VT_UNSET:on}")"), json::value("on"));  // YAML 1.2: not a boolean
  EXPECT_EQ(expanded(R"("${VT_UNSET:localhost}")"), json::value("localhost"));
  EXPECT_EQ(expanded(R"("${VT_UNSET:}")"), json::value(""));  // empty stays "", never null
  EXPECT_EQ(expanded(R"("${VT_EMPTY}")"), json::value(""));
  // Anything around the placeholder keeps it a string.
  EXPECT_EQ(expanded(R"("redis://${VT_UNSET:6379}")"), json::value("redis://6379"));
  EXPECT_EQ(expanded(R"("${VT_PORT}${VT_PORT}")"), json::value("80808080"));
}

TEST_F(ValueTemplate, AMissingVariableIsReportedNotFatal) {
  auto out = value_template::expand(parse(R"({"a":"${VT_UNSET}","b":["${VT_UNSET} and ${VT_OTHER_UNSET}"]})"));
  EXPECT_EQ(out.missing, (std::vector<std::string>{"VT_UNSET", "VT_OTHER_UNSET"}));
  EXPECT_EQ(out.value.at("a"), json::value("${VT_UNSET}"));  // left as written
}

TEST(YamlJson, PlainScalarsAreTypedAndWrittenBackTheSame) {
  EXPECT_EQ(yaml_json::plain_scalar("8080"), json::value(8080));
  EXPECT_EQ(yaml_json::plain_scalar("-1.5"), json::value(-1.5));
  EXPECT_EQ(yaml_json::plain_scalar("~"), json::value(nullptr));
  EXPECT_EQ(yaml_json::plain_scalar("FALSE"), json::value(false));
  EXPECT_EQ(yaml_json::plain_scalar("yes"), json::value("yes"));
  const json::value value = parse(R"({"s":"8080","t":"true","e":"","n":null,"i":3,"f":3.0,"text":"a: b # c",
      "multi":"line 1\nline 2","list":[],"map":{},"nested":[{"x":"${PORT:1}"}],"unicode":"é ✓"})");
  const std::string text = yaml_json::from_json(value);
  EXPECT_EQ(yaml_json::to_json(YAML::Load(text)), value) << text;
}

}  // namespace
}  // namespace iii
