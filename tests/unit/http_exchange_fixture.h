// Shared by the iii-http pipeline tests: a real Engine with in-process functions and a fake
// transport (no sockets, every step driven by hand), plus a parser for what it wrote.
#pragma once
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

}  // namespace
}  // namespace iii
