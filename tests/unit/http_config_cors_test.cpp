// The iii-http config block (docs/builtins.md §1.1) and its CORS policy (§1.6).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "workers/builtin.h"
#include "workers/http/http_config.h"
#include "workers/http/http_cors.h"

namespace iii {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

HttpConfig parse(std::string_view text) { return parse_http_config(json::parse(text)); }

TEST(HttpConfig, Defaults) {
  HttpConfig c = parse_http_config(nullptr);
  EXPECT_EQ(c.port, 3111);
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.default_timeout, 30000ms);
  EXPECT_EQ(c.concurrency_request_limit, 1024u);
  EXPECT_FALSE(c.cors);
  EXPECT_TRUE(c.middleware.empty());
  EXPECT_EQ(c.body_limit_bytes, 16u << 20);
}

TEST(HttpConfig, ReadsEveryKey) {
  HttpConfig c = parse(R"({"port":8080,"host":"127.0.0.1","default_timeout":"5000","concurrency_request_limit":0,
    "cors":{"allowed_origins":["https://a.example"],"allowed_methods":["GET","POST"]},
    "middleware":[{"function_id":"late","priority":10},{"function_id":"early","priority":-1,"phase":"preHandler"},
                  {"function_id":"other","phase":"onResponse"}],
    "body_limit_bytes":1024})");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.default_timeout, 5000ms);
  EXPECT_EQ(c.concurrency_request_limit, 1u);  // 0 is clamped to 1
  ASSERT_TRUE(c.cors);
  EXPECT_EQ(c.cors->allowed_origins, std::vector<std::string>{"https://a.example"});
  EXPECT_EQ(c.cors->allowed_methods, (std::vector<std::string>{"GET", "POST"}));
  ASSERT_EQ(c.middleware.size(), 3u);
  EXPECT_EQ(c.middleware[0].function_id, "early");
  EXPECT_EQ(c.middleware[1].function_id, "other");
  EXPECT_EQ(c.middleware[1].phase, "onResponse");
  EXPECT_EQ(c.middleware[2].function_id, "late");
  EXPECT_EQ(c.body_limit_bytes, 1024u);
}

TEST(HttpConfig, RejectsUnknownKeysAndBadValues) {
  EXPECT_THROW(parse(R"({"prot":3111})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"port":70000})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"port":"x"})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"host":1})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"default_timeout":-1})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"cors":{"allowed_origin":["*"]}})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"cors":{"allowed_origins":"*"}})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"middleware":[{"priority":1}]})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"middleware":[{"function_id":"a","extra":1}]})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"({"body_limit_bytes":0})"), BuiltinConfigError);
  EXPECT_THROW(parse(R"([1])"), BuiltinConfigError);
  try {
    parse(R"({"prot":3111})");
  } catch (const BuiltinConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("prot"), std::string::npos);
  }
}

TEST(HttpCors, NoBlockIsFullyPermissive) {
  CorsPolicy p(std::nullopt);
  std::string scratch;
  std::string_view h = p.response_headers("https://x.example", scratch);
  EXPECT_NE(h.find("access-control-allow-origin: *\r\n"), std::string_view::npos);
  EXPECT_NE(h.find("access-control-expose-headers: *\r\n"), std::string_view::npos);
  EXPECT_NE(h.find("vary: origin, access-control-request-method, access-control-request-headers\r\n"),
            std::string_view::npos);
  std::string pre = p.preflight_headers("https://x.example");
  EXPECT_NE(pre.find("access-control-allow-methods: *\r\n"), std::string::npos);
  EXPECT_NE(pre.find("access-control-allow-headers: *\r\n"), std::string::npos);
}

TEST(HttpCors, ListedOriginsAreEchoedOthersGetNothing) {
  HttpCorsConfig c;
  c.allowed_origins = {"https://a.example", "https://b.example"};
  c.allowed_methods = {"GET", "POST"};
  CorsPolicy p(c);
  std::string scratch;
  std::string h(p.response_headers("https://b.example", scratch));
  EXPECT_NE(h.find("access-control-allow-origin: https://b.example\r\n"), std::string::npos);
  EXPECT_EQ(h.find("expose"), std::string::npos);
  h = std::string(p.response_headers("https://evil.example", scratch));
  EXPECT_EQ(h.find("access-control-allow-origin"), std::string::npos);
  EXPECT_NE(h.find("vary:"), std::string::npos);
  std::string pre = p.preflight_headers("https://a.example");
  EXPECT_NE(pre.find("access-control-allow-origin: https://a.example\r\n"), std::string::npos);
  EXPECT_NE(pre.find("access-control-allow-methods: GET,POST\r\n"), std::string::npos);
}

TEST(HttpCors, EmptyOrWildcardOriginsAllowAny) {
  HttpCorsConfig c;
  std::string scratch;
  EXPECT_NE(CorsPolicy(c).response_headers("https://z", scratch).find("access-control-allow-origin: *"),
            std::string_view::npos);
  c.allowed_origins = {"https://a.example", "*"};
  EXPECT_NE(CorsPolicy(c).response_headers("", scratch).find("access-control-allow-origin: *"),
            std::string_view::npos);
  EXPECT_NE(CorsPolicy(c).preflight_headers("").find("access-control-allow-methods: *"), std::string::npos);
}

}  // namespace
}  // namespace iii
