// The iii-exec config block: the official keys load unchanged, ours have their defaults and
// ranges, and every mistake names its key.
#include "workers/exec/exec_config.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "config_error.h"
#include "core/json_text.h"

namespace iii {
namespace {

using std::chrono::milliseconds;

boost::json::value json_of(std::string_view text) {
  auto v = json_text::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : boost::json::value();
}

ExecConfig parse(std::string_view text, std::string_view instance = "iii-exec") {
  return parse_exec_config(json_of(text), "/srv/app", instance);
}

std::string error_of(std::string_view text) {
  return config_error_of([&] { parse(text); });
}

TEST(ExecConfigTest, OfficialKeysLoadWithOurDefaults) {
  const ExecConfig c = parse(R"({"exec":["npm ci","exec node index.js"],"watch":["src/**/*.{ts,js}","config/*.json"]})");
  EXPECT_EQ(c.commands, (std::vector<std::string>{"npm ci", "exec node index.js"}));
  ASSERT_EQ(c.watch.size(), 2u);
  EXPECT_EQ(c.watch[0].root, "/srv/app/src");
  EXPECT_TRUE(c.watch[0].recursive);
  EXPECT_EQ(c.watch[1].root, "/srv/app/config");
  EXPECT_EQ(c.name, "exec");
  EXPECT_EQ(c.cwd, "/srv/app");
  EXPECT_EQ(c.restart_delay, milliseconds(1000));
  EXPECT_EQ(c.restart_max_delay, milliseconds(30'000));
  EXPECT_EQ(c.restart_reset, milliseconds(60'000));
  EXPECT_EQ(c.stop_grace, milliseconds(3000));
  EXPECT_TRUE(parse(R"({"exec":["x"],"watch":null})").watch.empty());
}

TEST(ExecConfigTest, NameDefaultsToTheInstanceId) {
  EXPECT_EQ(parse(R"({"exec":["x"]})", "iii-exec#1").name, "exec#1");
  EXPECT_EQ(parse(R"({"exec":["x"]})", "").name, "exec");
  EXPECT_EQ(parse(R"({"exec":["x"],"name":"api"})", "iii-exec#2").name, "api");
}

TEST(ExecConfigTest, OurKeysAndCwd) {
  const ExecConfig c = parse(R"({"exec":["x"],"cwd":"services/api","watch":["src/*.py"],"restart_delay_ms":250,
                                 "restart_max_delay_ms":4000,"restart_reset_ms":0,"stop_grace_ms":0})");
  EXPECT_EQ(c.cwd, "/srv/app/services/api");
  EXPECT_EQ(c.watch[0].root, "/srv/app/services/api/src");  // watch resolves against cwd
  EXPECT_EQ(c.restart_delay, milliseconds(250));
  EXPECT_EQ(c.restart_max_delay, milliseconds(4000));
  EXPECT_EQ(c.restart_reset, milliseconds(0));
  EXPECT_EQ(c.stop_grace, milliseconds(0));
  EXPECT_EQ(parse(R"({"exec":["x"],"cwd":"/opt/w"})").cwd, "/opt/w");
  // A first delay above the default bound raises the bound with it.
  EXPECT_EQ(parse(R"({"exec":["x"],"restart_delay_ms":60000})").restart_max_delay, milliseconds(60'000));
}

TEST(ExecConfigTest, ExecIsRequiredAndNonEmpty) {
  EXPECT_EQ(config_error_of([] { parse_exec_config(boost::json::value(), "/", "iii-exec"); }),
            "iii-exec: `exec` is required: the list of shell commands to run");
  EXPECT_EQ(error_of(R"({"watch":["*.ts"]})"), "iii-exec: `exec` is required: the list of shell commands to run");
  EXPECT_EQ(error_of(R"({"exec":[]})"), "iii-exec: `exec` must list at least one command");
  EXPECT_EQ(error_of(R"({"exec":"npm start"})"), "iii-exec: `exec` must be a list of strings, got string");
  EXPECT_EQ(error_of(R"({"exec":["ok", 3]})"), "iii-exec: `exec[1]` must be a string, got number");
  EXPECT_EQ(error_of(R"({"exec":["ok", "  "]})"), "iii-exec: `exec[1]` must not be empty");
}

TEST(ExecConfigTest, UnknownKeysAreNamed) {
  EXPECT_EQ(error_of(R"({"exec":["x"],"wacth":["*.ts"]})"),
            "iii-exec: unknown key `wacth` (known keys: exec, watch, name, cwd, restart_delay_ms, "
            "restart_max_delay_ms, restart_reset_ms, stop_grace_ms)");
  EXPECT_EQ(config_error_of([] { parse_exec_config(json_of("[1]"), "/", ""); }), "iii-exec: `config` must be a mapping");
}

TEST(ExecConfigTest, BadWatch) {
  EXPECT_EQ(error_of(R"({"exec":["x"],"watch":"src/**/*.ts"})"), "iii-exec: `watch` must be a list of strings, got string");
  EXPECT_EQ(error_of(R"({"exec":["x"],"watch":[true]})"), "iii-exec: `watch[0]` must be a string, got boolean");
  EXPECT_EQ(error_of(R"({"exec":["x"],"watch":["*.ts",""]})"), "iii-exec: `watch[1]` must not be empty");
  EXPECT_EQ(error_of(R"({"exec":["x"],"watch":["src/**/*.{ts,js"]})"), "iii-exec: `watch[0]` has a `{` without its `}`");
}

TEST(ExecConfigTest, BadValuesOfOurKeys) {
  EXPECT_EQ(error_of(R"({"exec":["x"],"restart_delay_ms":0})"),
            "iii-exec: `restart_delay_ms` must be between 10 and 3600000, got 0");
  EXPECT_EQ(error_of(R"({"exec":["x"],"restart_delay_ms":500,"restart_max_delay_ms":100})"),
            "iii-exec: `restart_max_delay_ms` must be at least restart_delay_ms (500)");
  EXPECT_EQ(error_of(R"({"exec":["x"],"stop_grace_ms":"3s"})"), "iii-exec: `stop_grace_ms` must be a number, got string");
  EXPECT_EQ(error_of(R"({"exec":["x"],"name":""})"), "iii-exec: `name` must be 1 to 64 characters");
  EXPECT_EQ(error_of(R"({"exec":["x"],"name":"a\nb"})"), "iii-exec: `name` must not contain control characters");
  EXPECT_EQ(error_of(R"({"exec":["x"],"cwd":""})"), "iii-exec: `cwd` must not be empty");
}

}  // namespace
}  // namespace iii
