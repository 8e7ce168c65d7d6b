// The iii-http pipeline (docs/builtins.md §1.4–§1.5): routing, handler envelopes, request bodies,
// conditions, middleware, deadlines, concurrency limits and routes coming and going.
#include "http_exchange_fixture.h"

namespace iii {
namespace {

TEST_F(HttpExchangeTest, UnknownRouteIs404) {
  ParsedResponse r = send(Request{"GET", "/nope"});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"error":{"code":"NOT_FOUND","message":"Not Found"}})"));
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_TRUE(last().kept_alive);
}

TEST_F(HttpExchangeTest, HandlerEnvelopeBecomesTheResponse) {
  returns("math::add", R"({"status_code":201,"headers":{"X-Sum":"300"},"body":{"result":300}})");
  route("math::add", R"({"api_path":"/math/:op","http_method":"POST"})", R"({"tag":1})");
  Request req{"POST", "/math/add?x=1"};
  req.headers = {{"Content-Type", "application/json"}, {"Host", "localhost:3111"}};
  req.body = R"({"a":100,"b":200})";
  ParsedResponse r = send(std::move(req));
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("x-sum"), "300");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"result":300})");
  EXPECT_EQ(last().writes, 1);  // one write per buffered response

  ASSERT_EQ(calls_["math::add"].size(), 1u);
  const json::value& p = calls_["math::add"][0];
  EXPECT_EQ(p.at("path").as_string(), "/math/:op");
  EXPECT_EQ(p.at("path_params"), json::parse(R"({"op":"add"})"));
  EXPECT_EQ(p.at("query_params"), json::parse(R"({"x":"1"})"));
  EXPECT_EQ(p.at("body"), json::parse(R"({"a":100,"b":200})"));
  EXPECT_EQ(p.at("request_body").at("direction").as_string(), "read");
  EXPECT_EQ(p.at("response").at("direction").as_string(), "write");
  EXPECT_EQ(metadata_["math::add"], R"({"tag":1})");  // binding metadata travels as metadata
  EXPECT_EQ(hub_.size(), 0u);                          // both channels released
}

TEST_F(HttpExchangeTest, TheRawBodyIsPushedIntoTheRequestChannel) {
  std::shared_ptr<Channel> body;
  function("upload", [&](const InProcessCall& call, Completion done) {
    body = channel_of(json::parse(call.data), "request_body");
    done(Outcome::success(R"({"status_code":202})"));
  });
  route("upload", R"({"api_path":"/up","http_method":"PUT"})");
  Request req{"PUT", "/up"};
  req.headers = {{"content-type", "application/octet-stream"}};
  req.body = std::string(150 * 1024, 'z');
  ParsedResponse r = send(std::move(req));
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(calls_["upload"][0].at("body"), json::value(nullptr));
  ASSERT_NE(body, nullptr);
  // The whole body was queued as binary frames of at most 64 KiB, then the end.
  ChannelItem item;
  size_t total = 0, frames = 0;
  while (body->pop(item, {}) == Channel::ReadState::kItem) {
    EXPECT_TRUE(item.binary);
    total += item.data.size();
    ++frames;
  }
  EXPECT_EQ(total, 150u * 1024);
  EXPECT_EQ(frames, 3u);
  EXPECT_EQ(body->pop(item, {}), Channel::ReadState::kEnd);
  EXPECT_EQ(hub_.find(body->id(), body->access_key()), nullptr);  // forgotten by the hub
}

TEST_F(HttpExchangeTest, ABodyLargerThanTheBufferFlowsAsTheReaderReads) {
  std::string received;
  bool ended = false;
  Completion pending;
  function("sink", [&](const InProcessCall& call, Completion done) {
    auto ch = channel_of(json::parse(call.data), "request_body");
    ASSERT_TRUE(ch->take(ChannelDirection::kRead));
    ChannelItem item;
    for (int spins = 0; spins < 1000 && !ended; ++spins) {
      auto state = ch->pop(item, {});
      if (state == Channel::ReadState::kItem) {
        EXPECT_TRUE(item.binary);
        EXPECT_LE(item.data.size(), 64u * 1024);
        received += item.data;
      } else if (state == Channel::ReadState::kEnd) {
        ended = true;
      } else {
        last().run();  // let the exchange push more
      }
    }
    done(Outcome::success(R"({"body":"ok","headers":{"content-type":"text/plain"}})"));
  });
  route("sink", R"({"api_path":"/sink","http_method":"POST"})");
  Request req{"POST", "/sink"};
  for (int i = 0; i < 80 * 64 * 1024 / 10; ++i) req.body += "0123456789";  // > 64 frames of 64 KiB
  const std::string expected = req.body;
  ParsedResponse r = send(std::move(req));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  EXPECT_TRUE(ended);
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected);
}

TEST_F(HttpExchangeTest, HandlerErrorIs500WithItsCode) {
  function("bad", [](const InProcessCall&, Completion done) { done(Outcome::failure("invocation_failed", "boom")); });
  route("bad", R"({"api_path":"/bad"})");
  ParsedResponse r = send(Request{"GET", "/bad"});
  EXPECT_EQ(r.status, 500);
  json::object e = json::parse(r.body).at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "invocation_failed");
  EXPECT_EQ(e.at("message").as_string(), "boom");
  EXPECT_TRUE(e.contains("error_id"));
}

TEST_F(HttpExchangeTest, UnknownFunctionIs500FunctionNotFound) {
  route("ghost::fn", R"({"api_path":"/ghost"})");
  ParsedResponse r = send(Request{"GET", "/ghost"});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "function_not_found");
}

TEST_F(HttpExchangeTest, ConditionGatesTheHandler) {
  returns("h", R"({"body":"ran"})");
  function("cond", [](const InProcessCall& call, Completion done) {
    json::value p = json::parse(call.data);
    done(Outcome::success(p.at("query_params").as_object().contains("ok") ? "true" : "false"));
  });
  route("h", R"({"api_path":"/gated","condition_function_id":"cond"})");
  ParsedResponse skipped = send(Request{"GET", "/gated"});
  EXPECT_EQ(skipped.status, 422);
  EXPECT_EQ(json::parse(skipped.body),
            json::parse(R"({"error":{"code":"CONDITION_NOT_MET","message":"Request condition not met"},"skipped":true})"));
  EXPECT_EQ(calls_["h"].size(), 0u);
  ParsedResponse ran = send(Request{"GET", "/gated?ok=1"});
  EXPECT_EQ(ran.status, 200);
  EXPECT_EQ(calls_["h"].size(), 1u);
  // The condition saw the request without its channel refs.
  const json::object& seen = calls_["cond"][0].as_object();
  EXPECT_FALSE(seen.contains("request_body"));
  EXPECT_FALSE(seen.contains("response"));
  EXPECT_EQ(seen.at("path").as_string(), "/gated");
}

TEST_F(HttpExchangeTest, ConditionResultsOtherThanFalseProceedAndErrorsAre500) {
  returns("h", R"({"body":"ran"})");
  returns("cond_null", "");
  returns("cond_str", R"("false")");
  function("cond_err", [](const InProcessCall&, Completion done) { done(Outcome::failure("E_COND", "nope")); });
  route("h", R"({"api_path":"/n","condition_function_id":"cond_null"})");
  route("h", R"({"api_path":"/s","condition_function_id":"cond_str"})");
  route("h", R"({"api_path":"/e","condition_function_id":"cond_err"})");
  EXPECT_EQ(send(Request{"GET", "/n"}).status, 200);
  EXPECT_EQ(send(Request{"GET", "/s"}).status, 200);
  ParsedResponse e = send(Request{"GET", "/e"});
  EXPECT_EQ(e.status, 500);
  EXPECT_EQ(json::parse(e.body).at("error").at("code").as_string(), "E_COND");
}

TEST_F(HttpExchangeTest, MiddlewareRunsInOrderAndMayAnswer) {
  std::vector<std::string> order;
  auto recorder = [&](std::string name, std::string result) {
    function(name, [&order, name, result](const InProcessCall&, Completion done) {
      order.push_back(name);
      done(Outcome::success(result));
    });
  };
  recorder("cond", "true");
  recorder("mw1", R"({"action":"continue"})");
  recorder("mw2", "");  // no result: continue
  recorder("h", R"({"body":1})");
  route("h", R"({"api_path":"/m","condition_function_id":"cond","middleware_function_ids":["mw1","mw2"]})");
  EXPECT_EQ(send(Request{"GET", "/m"}).status, 200);
  EXPECT_EQ(order, (std::vector<std::string>{"cond", "mw1", "mw2", "h"}));
  const json::value& input = calls_["mw1"][0];
  EXPECT_EQ(input.at("phase").as_string(), "preHandler");
  EXPECT_EQ(input.at("request").at("method").as_string(), "GET");
  EXPECT_FALSE(input.at("request").as_object().contains("body"));

  recorder("deny", R"({"action":"respond","response":{"status_code":401,"body":{"error":"unauthorized"}}})");
  route("h", R"({"api_path":"/deny","middleware_function_ids":["deny","mw1"]})");
  order.clear();
  ParsedResponse r = send(Request{"GET", "/deny"});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"error":"unauthorized"})");
  EXPECT_EQ(order, std::vector<std::string>{"deny"});

  function("mw_err", [](const InProcessCall&, Completion done) { done(Outcome::failure("MW_FAIL", "no")); });
  route("h", R"({"api_path":"/mwerr","middleware_function_ids":["mw_err"]})");
  ParsedResponse err = send(Request{"GET", "/mwerr"});
  EXPECT_EQ(err.status, 500);
  EXPECT_EQ(json::parse(err.body).at("error").at("code").as_string(), "MW_FAIL");
  EXPECT_EQ(hub_.size(), 0u);
}

class HttpExchangeGlobalMiddlewareTest : public HttpExchangeTest {
 protected:
  static HttpConfig config() {
    HttpConfig c;
    c.middleware = {HttpMiddlewareConfig{"auth", "preHandler", 0}, HttpMiddlewareConfig{"never", "onResponse", 1}};
    return c;
  }
  HttpExchangeGlobalMiddlewareTest() : HttpExchangeTest(config()) {}
};

TEST_F(HttpExchangeGlobalMiddlewareTest, GlobalMiddlewareRunsBeforeChannelsExist) {
  size_t channels_during_auth = 99;
  function("auth", [&](const InProcessCall& call, Completion done) {
    channels_during_auth = hub_.size();
    bool ok = json::parse(call.data).at("request").at("headers").as_object().contains("authorization");
    done(Outcome::success(ok ? R"({"action":"continue"})" : R"({"action":"respond","response":{"status_code":403}})"));
  });
  returns("never", R"({"action":"respond","response":{"status_code":500}})");
  returns("h", R"({"body":"in"})");
  route("h", R"({"api_path":"/g"})");
  EXPECT_EQ(send(Request{"GET", "/g"}).status, 403);
  EXPECT_EQ(channels_during_auth, 0u);
  Request ok{"GET", "/g"};
  ok.headers = {{"Authorization", "x"}};
  EXPECT_EQ(send(std::move(ok)).status, 200);
  EXPECT_EQ(calls_["never"].size(), 0u);  // only preHandler middleware runs
}

TEST_F(HttpExchangeTest, DeadlineGives504) {
  Completion held;
  function("slow", [&](const InProcessCall&, Completion done) { held = std::move(done); });
  route("slow", R"({"api_path":"/slow"})");
  ParsedResponse r = send(Request{"GET", "/slow"});
  EXPECT_FALSE(last().finished);
  EXPECT_EQ(last().deadline_after, 30000ms);
  last().fire_deadline();
  r = parse_wire(last().wire);
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(hub_.size(), 0u);
  held(Outcome::success(R"({"body":"late"})"));  // a late answer changes nothing
  last().run();
  EXPECT_EQ(parse_wire(last().wire).status, 504);
  EXPECT_EQ(last().writes, 1);
}

TEST_F(HttpExchangeTest, DeadlineInMiddlewareIsMiddlewareTimeout) {
  Completion held;
  function("mw", [&](const InProcessCall&, Completion done) { held = std::move(done); });
  returns("h", "{}");
  route("h", R"({"api_path":"/mw","middleware_function_ids":["mw"]})");
  send(Request{"GET", "/mw"});
  last().fire_deadline();
  ParsedResponse r = parse_wire(last().wire);
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "MIDDLEWARE_TIMEOUT");
  held(Outcome::success(R"({"action":"continue"})"));
  last().run();
  EXPECT_EQ(calls_["h"].size(), 0u);
}

class HttpExchangeLimitTest : public HttpExchangeTest {
 protected:
  static HttpConfig config() {
    HttpConfig c;
    c.concurrency_request_limit = 1;
    return c;
  }
  HttpExchangeLimitTest() : HttpExchangeTest(config()) {}
};

TEST_F(HttpExchangeLimitTest, ExcessRequestsWaitForAPermit) {
  std::vector<Completion> held;
  function("slow", [&](const InProcessCall&, Completion done) { held.push_back(std::move(done)); });
  route("slow", R"({"api_path":"/slow"})");
  send(Request{"GET", "/slow"});
  send(Request{"GET", "/slow"});
  ASSERT_EQ(held.size(), 1u);  // the second waits
  EXPECT_EQ(http_->limiter().waiting(), 1u);
  held[0](Outcome::success(R"({"body":1})"));
  transports_[0]->run();  // the first answers and hands its permit over
  transports_[1]->run();
  ASSERT_EQ(held.size(), 2u);
  held[1](Outcome::success(R"({"body":2})"));
  transports_[1]->run();
  EXPECT_EQ(parse_wire(transports_[0]->wire).body, "1");
  EXPECT_EQ(parse_wire(transports_[1]->wire).body, "2");
  EXPECT_EQ(http_->limiter().in_use(), 0u);
}

TEST_F(HttpExchangeTest, RoutesComeAndGoWithTheirBindings) {
  returns("h", R"({"body":"here"})");
  TriggerBinding b;
  b.id = "live";
  b.trigger_type = "http";
  b.function_id = "h";
  b.config = R"({"api_path":"/live"})";
  engine_.register_trigger(b, [](std::optional<ErrorBody>) {});
  EXPECT_EQ(send(Request{"GET", "/live"}).status, 200);
  EXPECT_TRUE(engine_.unregister_trigger("live"));
  EXPECT_EQ(send(Request{"GET", "/live"}).status, 404);

  std::optional<ErrorBody> error;
  b.id = "bad";
  b.config = R"({"http_method":"GET"})";
  engine_.register_trigger(b, [&](std::optional<ErrorBody> e) { error = std::move(e); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "api_path is required for http triggers");
}

}  // namespace
}  // namespace iii
