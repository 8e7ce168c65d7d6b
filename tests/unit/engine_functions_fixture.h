// Test fixture for the iii-engine-functions worker: an Engine with the worker added, and fake
// remote workers whose "socket" is a vector of frames. Calls go through Engine::on_frame exactly as
// a connected SDK's would.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "wire/uuid.h"
#include "engine/engine.h"
#include "workers/engine/engine_functions.h"

namespace iii::testing_fixture {

namespace json = boost::json;

// A remote worker whose socket is a vector of frames.
class FakeWorker : public RemoteEndpoint {
 public:
  FakeWorker() : RemoteEndpoint(new_uuid()) {}
  void send(std::string frame) override {
    std::lock_guard lock(mu_);
    frames_.push_back(std::move(frame));
  }
  std::vector<json::object> frames(std::string_view type) const {
    std::lock_guard lock(mu_);
    std::vector<json::object> out;
    for (const std::string& f : frames_) {
      json::value v = json::parse(f);
      if (v.as_object().at("type").as_string() == type) out.push_back(v.as_object());
    }
    return out;
  }
  std::vector<std::string> raw_frames() const {
    std::lock_guard lock(mu_);
    return frames_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    frames_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> frames_;
};

using Worker = std::shared_ptr<FakeWorker>;

inline std::string str(const json::value& v) { return std::string(v.as_string()); }

inline std::vector<std::string> ids_of(const json::array& rows, std::string_view key) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(str(r.as_object().at(key)));
  return out;
}

inline bool contains(const std::vector<std::string>& v, std::string_view s) { return std::find(v.begin(), v.end(), s) != v.end(); }

class EngineFunctionsTest : public ::testing::Test {
 protected:
  EngineFunctionsTest() { engine_.add_in_process_worker(make_engine_functions_worker(engine_)); }

  Worker connect(std::string ip = "127.0.0.1") {
    auto w = std::make_shared<FakeWorker>();
    engine_.attach(w, std::move(ip));
    return w;
  }
  // A worker that called engine::workers::register like the 0.22.1 SDKs do.
  Worker connect_named(const std::string& name, const std::string& runtime = "node", int pid = 4242) {
    Worker w = connect();
    ok(w, "engine::workers::register",
       R"({"runtime":")" + runtime + R"(","version":"0.22.1","name":")" + name + R"(","pid":)" + std::to_string(pid) + "}");
    w->clear();
    return w;
  }
  void frame(const Worker& w, const std::string& text) { engine_.on_frame(w, text); }
  void register_function(const Worker& w, const std::string& id, const std::string& extra = "") {
    frame(w, R"({"type":"registerfunction","id":")" + id + "\"" + extra + "}");
  }
  void bind(const Worker& w, const std::string& id, const std::string& type, const std::string& function_id,
            const std::string& config = "{}", const std::string& extra = "") {
    frame(w, R"({"type":"registertrigger","id":")" + id + R"(","trigger_type":")" + type + R"(","function_id":")" +
                 function_id + R"(","config":)" + config + extra + "}");
  }

  // Sends an invokefunction and returns the invocationresult frame answering it.
  json::object call(const Worker& w, const std::string& function_id, const std::string& data = "{}") {
    const std::string id = new_uuid();
    last_invocation_id_ = id;
    frame(w, R"({"type":"invokefunction","invocation_id":")" + id + R"(","function_id":")" + function_id +
                 R"(","data":)" + data + "}");
    for (const json::object& f : w->frames("invocationresult"))
      if (f.at("invocation_id").as_string() == id) return f;
    ADD_FAILURE() << "no invocationresult for " << function_id;
    return {};
  }
  json::value ok(const Worker& w, const std::string& function_id, const std::string& data = "{}") {
    json::object f = call(w, function_id, data);
    EXPECT_FALSE(f.contains("error")) << function_id << " " << data << " → " << json::serialize(f);
    const json::value* r = f.if_contains("result");
    return r ? *r : json::value(nullptr);
  }
  ErrorBody error(const Worker& w, const std::string& function_id, const std::string& data = "{}") {
    json::object f = call(w, function_id, data);
    const json::value* e = f.if_contains("error");
    if (!e) {
      ADD_FAILURE() << function_id << " " << data << " succeeded: " << json::serialize(f);
      return {};
    }
    return ErrorBody{str(e->at("code")), str(e->at("message")), std::nullopt};
  }
  const WorkerEntry* entry_of(const Worker& w) {
    workers_ = engine_.registry().workers();
    for (const WorkerEntry& e : workers_)
      if (e.endpoint == w) return &e;
    return nullptr;
  }

  Engine engine_;
  std::string last_invocation_id_;
  std::vector<WorkerEntry> workers_;
};

}  // namespace iii::testing_fixture
