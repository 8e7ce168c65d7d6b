// The iii-console built-in's pure parts (docs/builtins.md §15): its config block, what it may call,
// the token and same-site checks, and the files compiled into the binary.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "workers/builtin.h"
#include "workers/console/console_access.h"
#include "workers/console/console_assets.h"
#include "workers/console/console_config.h"
#include "workers/console/console_http.h"

namespace iii {
namespace {

namespace json = boost::json;

EnvLookup env_with(std::optional<std::string> token) {
  return [token](std::string_view name) { return name == "III_CONSOLE_TOKEN" ? token : std::nullopt; };
}

std::string config_error(std::string_view yaml_json, EnvLookup env = env_with(std::nullopt)) {
  try {
    parse_console_config(json::parse(yaml_json), env);
  } catch (const BuiltinConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConsoleConfig, DefaultsAreLoopbackOnPort3113WithEveryNonEngineFunctionInvocable) {
  const ConsoleConfig c = parse_console_config(nullptr, env_with(std::nullopt));
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 3113);
  EXPECT_EQ(c.live_port, 0);
  EXPECT_EQ(c.token, "");
  EXPECT_EQ(c.invocable, std::vector<std::string>{"*"});
}

TEST(ConsoleConfig, ReadsEveryKeyAndTakesTheTokenFromTheEnvironmentWhenTheBlockHasNone) {
  const ConsoleConfig c = parse_console_config(
      json::parse(R"({"host":"0.0.0.0","port":"8080","live_port":9000,"invocable":["orders::*","a::b"]})"),
      env_with("from-env"));
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.live_port, 9000);
  EXPECT_EQ(c.token, "from-env");
  EXPECT_EQ(c.invocable, (std::vector<std::string>{"orders::*", "a::b"}));
  EXPECT_EQ(parse_console_config(json::parse(R"({"token":"t"})"), env_with("env")).token, "t");
}

TEST(ConsoleConfig, RefusesUnknownKeysBadValuesAndAnOpenHostWithoutToken) {
  EXPECT_NE(config_error(R"({"prot":1})").find("unknown key `prot`"), std::string::npos);
  EXPECT_NE(config_error(R"({"port":0})").find("`port`"), std::string::npos);
  EXPECT_NE(config_error(R"({"port":"12x"})").find("`port` must be a port number"), std::string::npos);
  EXPECT_NE(config_error(R"({"invocable":"*"})").find("`invocable` must be a list"), std::string::npos);
  EXPECT_NE(config_error(R"({"invocable":["a*b"]})").find("`invocable[0]` may hold `*` only at its end"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"host":"0.0.0.0"})").find("`token` is required when `host` is not a loopback"),
            std::string::npos);
  EXPECT_EQ(config_error(R"({"host":"0.0.0.0"})", env_with("t")), "");
  EXPECT_EQ(config_error(R"({"host":"localhost"})"), "");
  EXPECT_EQ(config_error(R"({"host":"::1"})"), "");
}

TEST(ConsoleAccess, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.8.9.10"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("192.168.1.2"));
  EXPECT_FALSE(is_loopback_host("evil.example"));
}

TEST(ConsoleAccess, PagesCallAFixedListAndTheInvokeFormWhatItsPatternsAllow) {
  EXPECT_TRUE(is_page_function("engine::workers::list"));
  EXPECT_TRUE(is_page_function("iii::queue::redrive_message"));
  EXPECT_TRUE(is_page_function("state::set"));
  EXPECT_FALSE(is_page_function("state::delete"));
  EXPECT_FALSE(is_page_function("engine::register_trigger"));
  EXPECT_FALSE(is_page_function("orders::place"));

  EXPECT_TRUE(is_invocable({"*"}, "orders::place"));
  EXPECT_FALSE(is_invocable({"*"}, "engine::workers::list"));
  EXPECT_TRUE(is_invocable({"engine::*"}, "engine::workers::list"));
  EXPECT_TRUE(is_invocable({"orders::*"}, "orders::place"));
  EXPECT_FALSE(is_invocable({"orders::*"}, "billing::charge"));
  EXPECT_TRUE(is_invocable({"a::b"}, "a::b"));
  EXPECT_FALSE(is_invocable({"a::b"}, "a::bc"));
  EXPECT_FALSE(is_invocable({}, "a::b"));
}

TEST(ConsoleAccess, TokenFromHeaderCookieOrQuery) {
  EXPECT_EQ(request_token("Bearer abc", "", ""), "abc");
  EXPECT_EQ(request_token("", "x=1; iii_console_token=a%20b", ""), "a b");
  EXPECT_EQ(request_token("", "", "x=1&token=q"), "q");
  EXPECT_EQ(request_token("Basic zzz", "", ""), "");
  EXPECT_TRUE(token_matches("", "anything"));
  EXPECT_TRUE(token_matches("s3cret", "s3cret"));
  EXPECT_FALSE(token_matches("s3cret", "s3cre"));
  EXPECT_FALSE(token_matches("s3cret", "s3cret!"));
  EXPECT_FALSE(token_matches("s3cret", ""));
}

TEST(ConsoleAccess, SameSiteComparesTheOriginsHostWithTheHostHeader) {
  EXPECT_TRUE(same_site("127.0.0.1:3113", "", true));
  EXPECT_TRUE(same_site("127.0.0.1:4000", "http://127.0.0.1:3113", true));  // the live port
  EXPECT_FALSE(same_site("127.0.0.1:3113", "http://evil.example", true));
  EXPECT_FALSE(same_site("evil.example:3113", "", true));  // DNS rebinding onto loopback
  EXPECT_TRUE(same_site("console.example.com", "https://console.example.com", false));
  EXPECT_TRUE(same_site("[::1]:3113", "http://[::1]:3113", true));
  EXPECT_FALSE(same_site("127.0.0.1:3113", "null", true));
}

TEST(ConsoleAssets, ThePagesAreCompiledIn) {
  const ConsoleAsset* index = find_console_asset("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->path, "/index.html");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->bytes.find("<html"), std::string_view::npos);
  // Every script the page loads is there, as JavaScript.
  size_t at = 0;
  while ((at = index->bytes.find("<script src=\"", at)) != std::string_view::npos) {
    at += 13;
    const std::string_view src = index->bytes.substr(at, index->bytes.find('"', at) - at);
    const ConsoleAsset* script = find_console_asset(src);
    ASSERT_NE(script, nullptr) << src;
    EXPECT_EQ(script->content_type, "text/javascript; charset=utf-8");
  }
  EXPECT_NE(find_console_asset("/console.css"), nullptr);
  EXPECT_EQ(find_console_asset("/missing.js"), nullptr);
}

TEST(ConsoleHttp, ResponsesCarryLengthNoStoreAndKeepAliveAsAsked) {
  const std::string r = console_response(200, "application/json", "{}", true, false);
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(r.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(r.find("Cache-Control: no-store\r\n"), std::string::npos);
  EXPECT_EQ(r.find("Connection: close"), std::string::npos);
  EXPECT_NE(console_response(404, "text/plain", "x", false, false).find("Connection: close\r\n"), std::string::npos);
  const std::string head = console_response(200, "text/plain", "body", true, false, true);
  EXPECT_NE(head.find("Content-Length: 4\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

}  // namespace
}  // namespace iii
