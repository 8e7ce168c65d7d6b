// The base of the tests that drive a built-in worker through a real Engine (state, stream): the
// engine, calls to its in-process functions (which answer synchronously), and in-process
// functions that record what they are called with (trigger targets, custom backends).
#pragma once
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_text.h"
#include "engine/engine.h"
#include "engine/in_process_worker.h"

namespace iii {

class BuiltinWorkerFixture : public ::testing::Test {
 protected:
  struct Call {
    std::string function_id;
    boost::json::value data;
    std::string metadata;
  };

  // `text` as JSON ("" reads as null); a test failure when it is not JSON.
  static boost::json::value json_of(std::string_view text) {
    auto v = json_text::parse(text.empty() ? "null" : text);
    EXPECT_TRUE(v) << text;
    return v ? *v : boost::json::value();
  }

  Outcome call(const std::string& function_id, const std::string& data) {
    std::optional<Outcome> out;
    engine.invoke(function_id, data, {}, [&](Outcome o) { out = std::move(o); });
    EXPECT_TRUE(out) << function_id << " did not answer synchronously";
    return out ? *out : Outcome::failure("no_answer", "");
  }
  boost::json::value ok(const std::string& function_id, const std::string& data) {
    Outcome o = call(function_id, data);
    EXPECT_TRUE(o.ok()) << function_id << " " << data << " → " << o.error->code << ": " << o.error->message;
    return json_of(o.result);
  }
  ErrorBody error(const std::string& function_id, const std::string& data) {
    Outcome o = call(function_id, data);
    EXPECT_FALSE(o.ok()) << function_id << " " << data << " succeeded: " << o.result;
    return o.error.value_or(ErrorBody{});
  }

  // Binds `function_id` to trigger type `type` (ownerless, as engine::register_trigger does);
  // the provider's rejection, if any.
  std::optional<ErrorBody> bind_trigger(const std::string& type, const std::string& id, const std::string& function_id,
                                        const std::string& config, const std::string& metadata = "") {
    std::optional<ErrorBody> out;
    engine.register_trigger(TriggerBinding{id, type, function_id, config, metadata, ""},
                            [&](std::optional<ErrorBody> e) { out = std::move(e); });
    return out;
  }

  // An in-process worker whose function `id` records its calls in `calls` and answers `result`.
  std::shared_ptr<InProcessWorker> recorder(const std::string& id, std::string result = "null") {
    auto w = std::make_shared<InProcessWorker>(engine, "recorder-" + id);
    w->add_function(FunctionSpec{id, "", {}, {}, {}}, SyncFunctionHandler([this, id, result](const InProcessCall& c) {
                      calls.push_back({id, json_of(c.data), c.metadata});
                      return Outcome::success(result);
                    }));
    engine.add_in_process_worker(w);
    recorders.push_back(w);
    return w;
  }

  // The function ids `calls` recorded, in order.
  std::vector<std::string> fired() const {
    std::vector<std::string> out;
    for (const Call& c : calls) out.push_back(c.function_id);
    return out;
  }

  // Outlives the derived fixture's members (the worker under test).
  Engine engine{EngineOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(500), 1000}};
  std::vector<Call> calls;
  std::vector<std::shared_ptr<InProcessWorker>> recorders;
};

}  // namespace iii
