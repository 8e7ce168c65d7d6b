// The iii-http pipeline (builtins.md §1.4–§1.5) run against a real Engine with in-process
// functions and a fake transport: no sockets, every step driven by hand.
#include "workers/http/http_exchange.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

#include "engine/engine.h"
#include "engine/in_process_worker.h"

namespace iii {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class FakeTransport : public HttpTransport {
 public:
  void post(std::function<void()> fn) override {
    std::lock_guard lock(mu);
    tasks.push_back(std::move(fn));
  }
  void arm_deadline(std::chrono::milliseconds after, std::function<void()> on_expiry) override {
    deadline = std::move(on_expiry);
    deadline_after = after;
  }
  void disarm_deadline() override { deadline = nullptr; }
  void write(std::string bytes, std::function<void(bool)> written) override {
    ++writes;
    wire += bytes;
    if (!inline_writes) return post([written = std::move(written)] { written(true); });
    // Like the server when the socket takes the bytes at once: complete before returning.
    max_write_depth = std::max(max_write_depth, ++write_depth);
    written(true);
    --write_depth;
  }
  void finish(bool keep_alive) override {
    finished = true;
    kept_alive = keep_alive;
  }
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard lock(mu);
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      task();
    }
  }
  void fire_deadline() {
    auto fn = std::move(deadline);
    deadline = nullptr;
    if (fn) fn();
    run();
  }

  std::mutex mu;
  std::deque<std::function<void()>> tasks;
  std::function<void()> deadline;
  std::chrono::milliseconds deadline_after{0};
  std::string wire;
  int writes = 0;
  bool inline_writes = false;
  int write_depth = 0;
  int max_write_depth = 0;
  bool finished = false;
  bool kept_alive = false;
};

struct ParsedResponse {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<absent>" : it->second;
  }
};

ParsedResponse parse_wire(const std::string& wire) {
  ParsedResponse r;
  size_t end = wire.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << wire;
  if (end == std::string::npos) return r;
  r.status = std::stoi(wire.substr(9, 3));
  size_t pos = wire.find("\r\n") + 2;
  while (pos < end) {
    size_t eol = wire.find("\r\n", pos);
    std::string line = wire.substr(pos, eol - pos);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace(name, line.substr(colon + 2));
    pos = eol + 2;
  }
  std::string rest = wire.substr(end + 4);
  if (r.header("transfer-encoding") == "chunked") {
    size_t p = 0;
    for (;;) {
      size_t eol = rest.find("\r\n", p);
      size_t n = std::stoul(rest.substr(p, eol - p), nullptr, 16);
      if (n == 0) break;
      r.body += rest.substr(eol + 2, n);
      p = eol + 2 + n + 2;
    }
  } else {
    r.body = rest;
  }
  return r;
}

struct Request {
  Request(std::string m = "GET", std::string t = "/") : method(std::move(m)), target(std::move(t)) {}
  std::string method;
  std::string target;
  std::vector<HttpHeaderView> headers;
  std::string body;
  HttpRequestView view() const { return HttpRequestView{method, target, &headers, body}; }
};

class HttpExchangeTest : public ::testing::Test {
 protected:
  explicit HttpExchangeTest(HttpConfig config = {}) : http_(std::make_shared<HttpTriggerWorker>(engine_, hub_, config)) {
    engine_.add_in_process_worker(http_->endpoint());
    app_ = std::make_shared<InProcessWorker>(engine_, "app");
    engine_.add_in_process_worker(app_);
  }

  // An in-process function that records its calls and answers with `answer`.
  void function(const std::string& id, std::function<void(const InProcessCall&, Completion)> answer) {
    app_->add_function(FunctionSpec{id, "", "", "", ""},
                       AsyncFunctionHandler([this, id, answer](const InProcessCall& call, Completion done) {
                         calls_[id].push_back(json::parse(call.data));
                         metadata_[id] = call.metadata;
                         answer(call, std::move(done));
                       }));
  }
  void returns(const std::string& id, std::string result) {
    function(id, [result](const InProcessCall&, Completion done) { done(Outcome::success(result)); });
  }
  void route(const std::string& function_id, const std::string& config, const std::string& metadata = "") {
    TriggerBinding b;
    b.id = "trigger-" + std::to_string(++bindings_);
    b.trigger_type = "http";
    b.function_id = function_id;
    b.config = config;
    b.metadata = metadata;
    std::optional<ErrorBody> error;
    engine_.register_trigger(b, [&](std::optional<ErrorBody> e) { error = std::move(e); });
    ASSERT_FALSE(error) << error->message;
  }

  ParsedResponse send(Request request, HttpExchangeOptions options = {}) {
    requests_.push_back(std::make_unique<Request>(std::move(request)));
    auto transport = std::make_shared<FakeTransport>();
    transport->inline_writes = inline_writes_;
    transports_.push_back(transport);
    exchange_ = std::make_shared<HttpExchange>(*http_, transport, requests_.back()->view(), options);
    exchange_->start();
    transport->run();
    return transport->finished ? parse_wire(transport->wire) : ParsedResponse{};
  }
  FakeTransport& last() { return *transports_.back(); }

  std::shared_ptr<Channel> channel_of(const json::value& payload, const char* field) {
    const json::object& ref = payload.at(field).as_object();
    return hub_.find(std::string(ref.at("channel_id").as_string()), std::string(ref.at("access_key").as_string()));
  }

  ChannelHub hub_;
  Engine engine_;
  std::shared_ptr<HttpTriggerWorker> http_;
  std::shared_ptr<InProcessWorker> app_;
  std::map<std::string, std::vector<json::value>> calls_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::unique_ptr<Request>> requests_;
  std::vector<std::shared_ptr<FakeTransport>> transports_;
  std::shared_ptr<HttpExchange> exchange_;
  int bindings_ = 0;
  bool inline_writes_ = false;
};

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

TEST_F(HttpExchangeTest, NoResultStreamsTheResponseChannel) {
  std::shared_ptr<Channel> out;
  function("stream", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    done(Outcome::success(""));  // no value: streaming mode
  });
  route("stream", R"({"api_path":"/stream"})");
  send(Request{"GET", "/stream"});
  ASSERT_NE(out, nullptr);
  EXPECT_FALSE(last().finished);
  ASSERT_TRUE(out->take(ChannelDirection::kWrite));
  out->push(ChannelItem{false, R"({"type":"set_status","status_code":201})"});
  out->push(ChannelItem{false, R"({"type":"set_headers","headers":{"content-type":"text/csv","x-a":"1"}})"});
  last().run();
  EXPECT_EQ(last().writes, 0);  // the response starts at the first body chunk
  out->push(ChannelItem{true, "a,b\n"});
  last().run();
  out->push(ChannelItem{false, R"({"type":"set_status","status_code":500})"});  // too late: ignored
  out->push(ChannelItem{true, "1,2\n"});
  out->finish();
  last().run();
  ASSERT_TRUE(last().finished);
  EXPECT_TRUE(last().kept_alive);
  ParsedResponse r = parse_wire(last().wire);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("content-type"), "text/csv");
  EXPECT_EQ(r.header("x-a"), "1");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.body, "a,b\n1,2\n");
  EXPECT_EQ(hub_.size(), 0u);
}

// The server completes most writes inline; a streamed response then loops instead of recursing
// once per batch, and an envelope response still ends the exchange.
TEST_F(HttpExchangeTest, WritesThatCompleteInlineStreamWithoutRecursion) {
  inline_writes_ = true;
  std::shared_ptr<Channel> out;
  function("stream", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    done(Outcome::success(""));
  });
  route("stream", R"({"api_path":"/stream"})");
  returns("plain", R"({"status_code":200,"body":{"ok":true}})");
  route("plain", R"({"api_path":"/plain"})");

  ParsedResponse plain = send(Request{"GET", "/plain"});
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, R"({"ok":true})");
  EXPECT_TRUE(last().finished);

  send(Request{"GET", "/stream"});
  ASSERT_NE(out, nullptr);
  ASSERT_TRUE(out->take(ChannelDirection::kWrite));
  const std::string chunk(200 * 1024, 'x');  // two chunks exceed one 256 KB batch
  std::string expected;
  for (int i = 0; i < 12; ++i) {
    out->push(ChannelItem{true, chunk + std::to_string(i)});
    expected += chunk + std::to_string(i);
  }
  out->finish();
  last().run();
  ASSERT_TRUE(last().finished);
  EXPECT_GE(last().writes, 6);
  EXPECT_LE(last().max_write_depth, 2);  // the head's write, then one loop: not one level per batch
  ParsedResponse r = parse_wire(last().wire);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(hub_.size(), 0u);
}

TEST_F(HttpExchangeTest, StreamWithoutBodyEndsWhenTheWriterCloses) {
  std::shared_ptr<Channel> out;
  function("s", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    out->take(ChannelDirection::kWrite);
    out->push(ChannelItem{false, R"({"type":"set_status","status_code":204})"});
    out->finish();
    done(Outcome::success(""));
  });
  route("s", R"({"api_path":"/s"})");
  ParsedResponse r = send(Request{"GET", "/s"});
  ASSERT_TRUE(last().finished);
  EXPECT_TRUE(last().kept_alive);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("transfer-encoding"), "<absent>");  // a 204 has no body, not even a last chunk
  EXPECT_TRUE(last().wire.ends_with("\r\n\r\n"));
}

TEST_F(HttpExchangeTest, AnEnvelopeWinsOverControlMessagesAlreadyRead) {
  function("mixed", [&](const InProcessCall& call, Completion done) {
    auto out = channel_of(json::parse(call.data), "response");
    out->take(ChannelDirection::kWrite);
    out->push(ChannelItem{false, R"({"type":"set_status","status_code":418})"});
    done(Outcome::success(R"({"status_code":200,"body":"env"})"));
  });
  route("mixed", R"({"api_path":"/mixed"})");
  ParsedResponse r = send(Request{"GET", "/mixed"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"("env")");
}

TEST_F(HttpExchangeTest, HeadUsesTheGetRouteWithoutABody) {
  returns("page", R"({"body":{"big":"payload"}})");
  route("page", R"({"api_path":"/page"})");
  ParsedResponse r = send(Request{"HEAD", "/page"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "17");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(calls_["page"][0].at("method").as_string(), "HEAD");
}

TEST_F(HttpExchangeTest, OptionsPreflightIsAnsweredByCors) {
  returns("h", "{}");
  route("h", R"({"api_path":"/x","http_method":"POST"})");
  Request pre{"OPTIONS", "/x"};
  pre.headers = {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}};
  ParsedResponse r = send(std::move(pre));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("access-control-allow-methods"), "*");
  EXPECT_EQ(r.header("access-control-allow-headers"), "*");
  EXPECT_EQ(calls_["h"].size(), 0u);
}

TEST_F(HttpExchangeTest, HttpOneZeroClosesAfterAStream) {
  std::shared_ptr<Channel> out;
  function("s", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    out->take(ChannelDirection::kWrite);
    out->push(ChannelItem{true, "raw"});
    out->finish();
    done(Outcome::success(""));
  });
  route("s", R"({"api_path":"/s"})");
  send(Request{"GET", "/s"}, HttpExchangeOptions{true, true});
  ASSERT_TRUE(last().finished);
  EXPECT_FALSE(last().kept_alive);
  EXPECT_EQ(last().wire.substr(last().wire.find("\r\n\r\n") + 4), "raw");
  EXPECT_EQ(last().wire.find("chunked"), std::string::npos);
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
