// The http trigger type's routes (docs/protocol.md §7, docs/builtins.md §1.3).
#include "workers/http/route_table.h"

#include <gtest/gtest.h>

namespace iii {
namespace {

TriggerBinding binding(std::string id, std::string config, std::string function_id = "fn", std::string owner = "w1") {
  TriggerBinding b;
  b.id = std::move(id);
  b.trigger_type = "http";
  b.function_id = std::move(function_id);
  b.config = std::move(config);
  b.owner_worker_id = std::move(owner);
  return b;
}

std::string function_at(const RouteTable& t, std::string_view method, std::string_view path) {
  auto m = t.match(method, path);
  return m ? m->route->function_id : "<none>";
}

TEST(HttpRouteKey, UpperCasesTheMethodAndDropsLeadingSlashes) {
  EXPECT_EQ(RouteTable::route_key("get", "/users/:id"), "GET:users/:id");
  EXPECT_EQ(RouteTable::route_key("GET", "users/:id"), "GET:users/:id");
  EXPECT_EQ(RouteTable::route_key("post", "/"), "POST:/");
  EXPECT_EQ(RouteTable::route_key("Patch", "//a"), "PATCH:a");
}

TEST(HttpRouteTable, ApiPathIsRequired) {
  RouteTable t;
  for (std::string config : {"{}", "null", R"({"api_path":5})", R"({"http_method":"GET"})", "not json"}) {
    auto error = t.add(binding("t1", config));
    ASSERT_TRUE(error) << config;
    EXPECT_EQ(error->code, "trigger_registration_failed");
    EXPECT_EQ(error->message, "api_path is required for http triggers");
  }
  EXPECT_EQ(t.size(), 0u);
}

TEST(HttpRouteTable, MethodDefaultsToGetAndIsCaseInsensitive) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"a"})", "get_a")));
  ASSERT_FALSE(t.add(binding("t2", R"({"api_path":"/a","http_method":"post"})", "post_a")));
  EXPECT_EQ(function_at(t, "GET", "/a"), "get_a");
  EXPECT_EQ(function_at(t, "POST", "/a"), "post_a");
  EXPECT_EQ(function_at(t, "PUT", "/a"), "<none>");
  auto m = t.match("POST", "/a");
  EXPECT_EQ(m->route->method, "POST");
  EXPECT_EQ(m->route->api_path, "/a");
  EXPECT_EQ(m->route->key, "POST:a");
}

TEST(HttpRouteTable, PathParamsAreRawSegments) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/users/:id/posts/:post_id"})")));
  auto m = t.match("GET", "/users/a%20b/posts/7");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->params.size(), 2u);
  EXPECT_EQ(m->params[0].first, "id");
  EXPECT_EQ(m->params[0].second, "a%20b");
  EXPECT_EQ(m->params[1].first, "post_id");
  EXPECT_EQ(m->params[1].second, "7");
  EXPECT_FALSE(t.match("GET", "/users//posts/7"));  // a parameter is never empty
  EXPECT_FALSE(t.match("GET", "/users/1/posts"));
  EXPECT_FALSE(t.match("GET", "/users/1/posts/7/x"));
}

TEST(HttpRouteTable, LiteralSegmentsBeatParametersWithBacktracking) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/users/:id"})", "by_id")));
  ASSERT_FALSE(t.add(binding("t2", R"({"api_path":"/users/me"})", "me")));
  ASSERT_FALSE(t.add(binding("t3", R"({"api_path":"/users/me/x/:y"})", "me_x")));
  ASSERT_FALSE(t.add(binding("t4", R"({"api_path":"/users/:id/z"})", "id_z")));
  EXPECT_EQ(function_at(t, "GET", "/users/me"), "me");
  EXPECT_EQ(function_at(t, "GET", "/users/42"), "by_id");
  EXPECT_EQ(function_at(t, "GET", "/users/me/x/1"), "me_x");
  EXPECT_EQ(function_at(t, "GET", "/users/me/z"), "id_z");  // literal branch fails, the parameter matches
  auto m = t.match("GET", "/users/me/z");
  ASSERT_EQ(m->params.size(), 1u);
  EXPECT_EQ(m->params[0].second, "me");
}

TEST(HttpRouteTable, TrailingSlashesAndRootAreExact) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/"})", "root")));
  ASSERT_FALSE(t.add(binding("t2", R"({"api_path":"/a"})", "a")));
  EXPECT_EQ(function_at(t, "GET", "/"), "root");
  EXPECT_EQ(function_at(t, "GET", "/a"), "a");
  EXPECT_EQ(function_at(t, "GET", "/a/"), "<none>");
  EXPECT_EQ(function_at(t, "GET", "//a"), "<none>");
}

TEST(HttpRouteTable, HeadFallsBackToGet) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/a"})", "get_a")));
  ASSERT_FALSE(t.add(binding("t2", R"({"api_path":"/b","http_method":"HEAD"})", "head_b")));
  ASSERT_FALSE(t.add(binding("t3", R"({"api_path":"/b"})", "get_b")));
  EXPECT_EQ(function_at(t, "HEAD", "/a"), "get_a");
  EXPECT_EQ(function_at(t, "HEAD", "/b"), "head_b");
  EXPECT_EQ(function_at(t, "POST", "/a"), "<none>");
}

TEST(HttpRouteTable, SameKeyReplacesAndOnlyTheOwnerRemoves) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/a"})", "first", "w1")));
  ASSERT_FALSE(t.add(binding("t2", R"({"api_path":"a","http_method":"get"})", "second", "w2")));
  EXPECT_EQ(function_at(t, "GET", "/a"), "second");
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(t.remove(binding("t1", R"({"api_path":"/a"})", "first", "w1")));  // no longer its route
  EXPECT_EQ(function_at(t, "GET", "/a"), "second");
  EXPECT_TRUE(t.remove(binding("t2", R"({"api_path":"/a"})", "second", "w2")));
  EXPECT_EQ(function_at(t, "GET", "/a"), "<none>");
  EXPECT_EQ(t.size(), 0u);
}

TEST(HttpRouteTable, ReactivatingABindingMovesItsRoute) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/old"})", "fn")));
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/new/:x"})", "fn")));
  EXPECT_EQ(function_at(t, "GET", "/old"), "<none>");
  EXPECT_EQ(function_at(t, "GET", "/new/1"), "fn");
  EXPECT_EQ(t.size(), 1u);
}

TEST(HttpRouteTable, SameShapeWithOtherParameterNamesIsRejected) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/a/:x"})", "x")));
  auto error = t.add(binding("t2", R"({"api_path":"/a/:y"})", "y"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "trigger_registration_failed");
  EXPECT_NE(error->message.find("conflicts"), std::string::npos);
  EXPECT_EQ(function_at(t, "GET", "/a/1"), "x");
  // Another method, or another literal tail, is a different shape.
  EXPECT_FALSE(t.add(binding("t3", R"({"api_path":"/a/:y","http_method":"POST"})", "post_y")));
  EXPECT_FALSE(t.add(binding("t4", R"({"api_path":"/a/:y/z"})", "y_z")));
  auto m = t.match("GET", "/a/7/z");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->function_id, "y_z");
  EXPECT_EQ(m->params[0].first, "y");
}

TEST(HttpRouteTable, ConditionAndMiddlewareAreRead) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding(
      "t1", R"({"api_path":"/a","condition_function_id":"cond","middleware_function_ids":["m1",7,"m2"]})")));
  auto m = t.match("GET", "/a");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->condition_function_id, "cond");
  EXPECT_EQ(m->route->middleware_function_ids, (std::vector<std::string>{"m1", "m2"}));
}

TEST(HttpRouteTable, UnroutableMethodsAreAcceptedButNeverMatch) {
  RouteTable t;
  EXPECT_FALSE(t.add(binding("t1", R"({"api_path":"/a","http_method":"BREW"})")));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(t.match("BREW", "/a"));
  EXPECT_TRUE(t.remove(binding("t1", "{}")));
}

TEST(HttpRouteTable, RemovingPrunesSoLaterRoutesStillMatch) {
  RouteTable t;
  ASSERT_FALSE(t.add(binding("t1", R"({"api_path":"/a/:x/b"})", "one")));
  EXPECT_TRUE(t.remove(binding("t1", "{}")));
  ASSERT_FALSE(t.add(binding("t2", R"({"api_path":"/a/:y"})", "two")));  // no stale conflict
  EXPECT_EQ(function_at(t, "GET", "/a/1"), "two");
  EXPECT_EQ(function_at(t, "GET", "/a/1/b"), "<none>");
}

}  // namespace
}  // namespace iii
