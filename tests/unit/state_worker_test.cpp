// The iii-state built-in driven through a real Engine: every state::* function with its
// request/response shapes and error codes, the store's lifecycle, and the `state` trigger type.
#include "builtin_worker_fixture.h"
#include "temp_dir.h"
#include "workers/state/state_worker.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "wire/uuid.h"
#include "engine/engine.h"
#include "recording_endpoint.h"
#include "store/memory_kv_store.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A fresh directory per test, named after this suite.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-state-test-") {}
};

json::value parse(std::string_view text) {
  auto v = json_text::parse(text.empty() ? "null" : text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

// --- functions ---

// A store whose every operation fails like a broken disk.
class FailingStore : public KvStore {
 public:
  [[noreturn]] static void boom() { throw KvStoreError("disk on fire"); }
  std::optional<std::string> get(std::string_view, std::string_view) override { boom(); }
  std::optional<std::string> set(std::string_view, std::string_view, std::string_view) override { boom(); }
  std::optional<std::string> remove(std::string_view, std::string_view) override { boom(); }
  KvUpdate update(std::string_view, std::string_view, const KvUpdateFn&) override { boom(); }
  std::vector<std::string> list(std::string_view) override { boom(); }
  std::vector<KvEntry> entries(std::string_view) override { boom(); }
  std::vector<std::string> list_groups() override { boom(); }
};

class StateWorkerTest : public BuiltinWorkerFixture {
 protected:
  ~StateWorkerTest() override {
    if (worker) worker->stop();
  }

  // Creates the worker from a config block (as the config loader does) and starts it.
  void start(std::string_view block = "null") {
    BuiltinContext context{engine, dir.path()};
    worker = state_builtin().factory(context, parse(block));
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
  }

  std::optional<ErrorBody> bind(const std::string& id, const std::string& function_id, const std::string& config,
                                const std::string& metadata = "") {
    std::optional<ErrorBody> out;
    engine.register_trigger(TriggerBinding{id, "state", function_id, config, metadata, ""},
                            [&](std::optional<ErrorBody> e) { out = std::move(e); });
    return out;
  }

  TempDir dir;
  std::unique_ptr<BuiltinWorker> worker;
};

TEST_F(StateWorkerTest, SetGetAndTheSetResultShape) {
  start();
  EXPECT_EQ(ok("state::set", R"({"scope":"users","key":"u1","value":{"name":"Alice","n":1.5}})"),
            parse(R"({"old_value":null,"new_value":{"name":"Alice","n":1.5}})"));
  EXPECT_EQ(ok("state::get", R"({"scope":"users","key":"u1"})"), parse(R"({"name":"Alice","n":1.5})"));
  EXPECT_EQ(ok("state::set", R"({"scope":"users","key":"u1","value":2})"),
            parse(R"({"old_value":{"name":"Alice","n":1.5},"new_value":2})"));
  EXPECT_EQ(ok("state::get", R"({"scope":"users","key":"missing"})"), json::value(nullptr));
  EXPECT_EQ(ok("state::get", R"({"scope":"nope","key":"u1","_caller_worker_id":"x"})"), json::value(nullptr));
}

TEST_F(StateWorkerTest, SetAcceptsDataInsteadOfValue) {
  start();
  EXPECT_EQ(ok("state::set", R"({"scope":"s","key":"k","data":"hello"})"), parse(R"({"old_value":null,"new_value":"hello"})"));
  EXPECT_EQ(ok("state::get", R"({"scope":"s","key":"k"})"), json::value("hello"));
  EXPECT_EQ(ok("state::set", R"({"scope":"s","key":"n","value":null})"), parse(R"({"old_value":null,"new_value":null})"));
  ErrorBody e = error("state::set", R"({"scope":"s","key":"k","value":1,"data":2})");
  EXPECT_EQ(e.code, "deserialization_error");
  EXPECT_NE(e.message.find("duplicate field `value`"), std::string::npos) << e.message;
  e = error("state::set", R"({"scope":"s","key":"k"})");
  EXPECT_EQ(e.message, "Failed to deserialize input for state::set: missing field `value`");
  EXPECT_EQ(ok("state::get", R"({"scope":"s","key":"k"})"), json::value("hello"));  // unchanged
}

TEST_F(StateWorkerTest, TheValueIsStoredAsWritten) {
  start();
  // Checked, not rebuilt: the text (spacing, number spelling) is what state::get answers.
  const Outcome set = call("state::set", R"({"scope":"s","key":"t","value": {"n": 1.50, "e": "\u00e9"} })");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set.result, R"({"old_value":null,"new_value":{"n": 1.50, "e": "\u00e9"}})");
  EXPECT_EQ(call("state::get", R"({"scope":"s","key":"t"})").result, R"({"n": 1.50, "e": "\u00e9"})");
  // Invalid JSON inside the value is refused, and nothing is written.
  EXPECT_EQ(error("state::set", R"({"scope":"s","key":"t","value":{"n":tru}})").code, "deserialization_error");
  EXPECT_EQ(call("state::get", R"({"scope":"s","key":"t"})").result, R"({"n": 1.50, "e": "\u00e9"})");
}

TEST_F(StateWorkerTest, InvalidInputIsAClearErrorAndChangesNothing) {
  start();
  struct Case {
    const char* function_id;
    const char* data;
    const char* message;
  } cases[] = {
      {"state::set", R"({"key":"k","value":1})", "missing field `scope`"},
      {"state::set", R"({"scope":5,"key":"k","value":1})", "field `scope`: invalid type: number, expected a string"},
      {"state::get", R"({"scope":"s"})", "missing field `key`"},
      {"state::get", "null", "missing field `scope`"},
      {"state::get", "[1]", "invalid type: array, expected a JSON object"},
      {"state::delete", R"({"scope":"s","key":null})", "field `key`: invalid type: null, expected a string"},
      {"state::update", R"({"scope":"s","key":"k"})", "missing field `ops`"},
      {"state::update", R"({"scope":"s","key":"k","ops":[{"type":"set","path":"a","value":1},{"type":"nope"}]})",
       "ops[1].type: unknown variant \"nope\""},
      {"state::update", R"({"scope":"s","key":"k","ops":[{"type":"increment","path":"a","by":"1"}]})",
       "ops[0].by: invalid type: string \"1\", expected i64"},
      {"state::list", "{}", "missing field `scope`"},
  };
  for (const Case& c : cases) {
    ErrorBody e = error(c.function_id, c.data);
    EXPECT_EQ(e.code, "deserialization_error") << c.data;
    EXPECT_NE(e.message.find(std::string("Failed to deserialize input for ") + c.function_id + ": " + c.message),
              std::string::npos)
        << e.message;
  }
  EXPECT_EQ(ok("state::list_groups", "{}"), parse(R"({"groups":[]})"));
  EXPECT_EQ(ok("state::list_groups", "null"), parse(R"({"groups":[]})"));  // no fields needed
}

TEST_F(StateWorkerTest, DeleteReturnsTheRemovedValue) {
  start();
  ok("state::set", R"({"scope":"s","key":"k","value":"hello"})");
  EXPECT_EQ(ok("state::delete", R"({"scope":"s","key":"k"})"), json::value("hello"));
  EXPECT_EQ(ok("state::get", R"({"scope":"s","key":"k"})"), json::value(nullptr));
  EXPECT_EQ(ok("state::delete", R"({"scope":"s","key":"k"})"), json::value(nullptr));
}

TEST_F(StateWorkerTest, ListListGroupsAndListKeys) {
  start();
  EXPECT_EQ(ok("state::list", R"({"scope":"empty"})"), json::array());
  for (int i : {2, 0, 1}) {
    ok("state::set", R"({"scope":"items","key":"item-)" + std::to_string(i) + R"(","value":{"index":)" +
                         std::to_string(i) + "}}");
  }
  ok("state::set", R"({"scope":"beta","key":"k","value":1})");
  ok("state::set", R"({"scope":"alpha","key":"k","value":1})");
  EXPECT_EQ(ok("state::list", R"({"scope":"items"})"), parse(R"([{"index":2},{"index":0},{"index":1}])"));
  EXPECT_EQ(ok("state::list_keys", R"({"scope":"items"})"), parse(R"({"keys":["item-2","item-0","item-1"]})"));
  EXPECT_EQ(ok("state::list_groups", "{}"), parse(R"({"groups":["alpha","beta","items"]})"));
  ok("state::delete", R"({"scope":"beta","key":"k"})");
  EXPECT_EQ(ok("state::list_groups", "{}"), parse(R"({"groups":["alpha","items"]})"));
}

TEST_F(StateWorkerTest, UpdateResultShape) {
  start();
  EXPECT_EQ(ok("state::update", R"({"scope":"s","key":"c","ops":[{"type":"increment","path":"n","by":2}]})"),
            parse(R"({"old_value":null,"new_value":{"n":2}})"));
  EXPECT_EQ(ok("state::update", R"({"scope":"s","key":"c","ops":[{"type":"increment","path":"n","by":3},)"
                                R"({"type":"merge","value":{"__proto__":1}},{"type":"append","path":"log","value":"a"}]})"),
            parse(R"({"old_value":{"n":2},"new_value":{"n":5,"log":"a"},"errors":[{"op_index":1,)"
                  R"("code":"merge.value.proto_polluted","message":"Merge value top-level key \"__proto__\" is a )"
                  R"(prototype-pollution sink","doc_url":"https://iii.dev/docs/workers/iii-state#error-codes"}]})"));
  EXPECT_EQ(ok("state::get", R"({"scope":"s","key":"c"})"), parse(R"({"n":5,"log":"a"})"));
  EXPECT_EQ(ok("state::update", R"({"scope":"s","key":"c","ops":[]})"),
            parse(R"({"old_value":{"n":5,"log":"a"},"new_value":{"n":5,"log":"a"}})"));
  // The root can become any JSON value.
  EXPECT_EQ(ok("state::update", R"({"scope":"s","key":"r","ops":[{"type":"set","path":"","value":[1]}]})"),
            parse(R"({"old_value":null,"new_value":[1]})"));
  EXPECT_EQ(ok("state::update", R"({"scope":"s","key":"r","ops":[{"type":"remove","path":""}]})"),
            parse(R"({"old_value":[1],"new_value":null})"));
}

TEST_F(StateWorkerTest, MaxValueBytesGuardsSetOnly) {
  start(R"({"max_value_bytes":10})");
  EXPECT_EQ(ok("state::set", R"({"scope":"s","key":"k","value":"12345678"})"),  // "12345678" is 10 bytes
            parse(R"({"old_value":null,"new_value":"12345678"})"));
  ErrorBody e = error("state::set", R"({"scope":"s","key":"k","value":"123456789"})");
  EXPECT_EQ(e.code, "VALUE_TOO_LARGE");
  EXPECT_EQ(e.message, "Value of 11 bytes exceeds max_value_bytes (10)");
  EXPECT_EQ(ok("state::get", R"({"scope":"s","key":"k"})"), json::value("12345678"));
  ok("state::update", R"({"scope":"s","key":"k","ops":[{"type":"append","path":"","value":"not guarded"}]})");
}

TEST_F(StateWorkerTest, StoreFailuresUseEachFunctionsCode) {
  worker = make_state_worker(engine, StateConfig{}, std::make_shared<FailingStore>());
  engine.add_in_process_worker(worker->endpoint());
  worker->start();
  recorder("test::on_state");
  ASSERT_EQ(bind("t", "test::on_state", "{}"), std::nullopt);
  struct Case {
    const char* function_id;
    const char* data;
    const char* code;
  } cases[] = {
      {"state::set", R"({"scope":"s","key":"k","value":1})", "SET_ERROR"},
      {"state::get", R"({"scope":"s","key":"k"})", "GET_ERROR"},
      {"state::delete", R"({"scope":"s","key":"k"})", "DELETE_ERROR"},
      {"state::update", R"({"scope":"s","key":"k","ops":[]})", "UPDATE_ERROR"},
      {"state::list", R"({"scope":"s"})", "LIST_ERROR"},
      {"state::list_groups", "{}", "LIST_GROUPS_ERROR"},
  };
  for (const Case& c : cases) {
    ErrorBody e = error(c.function_id, c.data);
    EXPECT_EQ(e.code, c.code);
    EXPECT_NE(e.message.find("disk on fire"), std::string::npos) << e.message;
  }
  EXPECT_TRUE(calls.empty());  // a failed write fires nothing
}

TEST_F(StateWorkerTest, CallsBeforeStartOrAfterStopFailClearly) {
  BuiltinContext context{engine, dir.path()};
  worker = state_builtin().factory(context, json::value());
  engine.add_in_process_worker(worker->endpoint());
  ErrorBody e = error("state::set", R"({"scope":"s","key":"k","value":1})");
  EXPECT_EQ(e.code, "SET_ERROR");
  EXPECT_NE(e.message.find("not open"), std::string::npos) << e.message;
  worker->start();
  ok("state::set", R"({"scope":"s","key":"k","value":1})");
  worker->stop();
  EXPECT_EQ(error("state::get", R"({"scope":"s","key":"k"})").code, "GET_ERROR");
}

TEST_F(StateWorkerTest, FileBasedStorePersistsAcrossWorkerRestarts) {
  const char* block = R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"./data/state_store.db"}}})";
  start(block);
  ok("state::set", R"({"scope":"s","key":"a","value":{"x":1}})");
  ok("state::update", R"({"scope":"s","key":"b","ops":[{"type":"increment","path":"n","by":1}]})");
  EXPECT_TRUE(fs::exists(dir.path() / "data" / "state_store.db"));
  worker->stop();
  engine.detach(worker->endpoint());
  start(block);  // a new instance on the same file, as a hot reload or an engine restart does
  EXPECT_EQ(ok("state::list", R"({"scope":"s"})"), parse(R"([{"x":1},{"n":1}])"));
}

TEST_F(StateWorkerTest, UnopenableFileFailsStart) {
  std::ofstream(dir.path() / "blocker") << "x";
  BuiltinContext context{engine, dir.path()};
  worker = state_builtin().factory(
      context, parse(R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"blocker/s.db"}}})"));
  engine.add_in_process_worker(worker->endpoint());
  try {
    worker->start();
    FAIL() << "started on an unopenable path";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("blocker/s.db"), std::string::npos) << e.what();
  }
}

// --- the `state` trigger type ---

TEST_F(StateWorkerTest, TriggersFireCreatedUpdatedDeleted) {
  start();
  recorder("test::on_state");
  ASSERT_EQ(bind("t1", "test::on_state", "{}", R"({"tag":1})"), std::nullopt);
  ok("state::set", R"({"scope":"s","key":"k","value":1})");
  ok("state::set", R"({"scope":"s","key":"k","value":2})");
  ok("state::update", R"({"scope":"s","key":"u","ops":[{"type":"set","path":"a","value":1}]})");
  error("state::update", R"({"scope":"s","key":"u","ops":[{"type":"increment","path":"a","by":"x"}]})");  // no event
  ok("state::update", R"({"scope":"s","key":"u","ops":[{"type":"increment","path":"zz","by":1},{"type":"remove","path":"__proto__"}]})");
  ok("state::delete", R"({"scope":"s","key":"k"})");
  ok("state::delete", R"({"scope":"s","key":"never"})");
  ok("state::get", R"({"scope":"s","key":"u"})");
  ok("state::list", R"({"scope":"s"})");
  std::vector<json::value> expected = {
      parse(R"({"type":"state","event_type":"state:created","scope":"s","key":"k","old_value":null,"new_value":1})"),
      parse(R"({"type":"state","event_type":"state:updated","scope":"s","key":"k","old_value":1,"new_value":2})"),
      parse(R"({"type":"state","event_type":"state:created","scope":"s","key":"u","old_value":null,"new_value":{"a":1}})"),
      parse(R"({"type":"state","event_type":"state:updated","scope":"s","key":"u","old_value":{"a":1},"new_value":{"a":1,"zz":1}})"),
      parse(R"({"type":"state","event_type":"state:deleted","scope":"s","key":"k","old_value":2,"new_value":null})"),
      parse(R"({"type":"state","event_type":"state:deleted","scope":"s","key":"never","old_value":null,"new_value":null})"),
  };
  ASSERT_EQ(calls.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(calls[i].data, expected[i]) << i;
    EXPECT_EQ(parse(calls[i].metadata), parse(R"({"tag":1})"));  // metadata travels beside the payload
  }
}

TEST_F(StateWorkerTest, ScopeAndKeyFilters) {
  start();
  recorder("test::all");
  recorder("test::scope");
  recorder("test::key");
  recorder("test::both");
  ASSERT_EQ(bind("all", "test::all", "null"), std::nullopt);
  ASSERT_EQ(bind("scope", "test::scope", R"({"scope":"orders"})"), std::nullopt);
  ASSERT_EQ(bind("key", "test::key", R"({"key":"o1","scope":null})"), std::nullopt);
  ASSERT_EQ(bind("both", "test::both", R"({"scope":"orders","key":"o1","unknown":"ignored"})"), std::nullopt);
  auto fired = [&](const std::string& scope, const std::string& key) {
    calls.clear();
    ok("state::set", R"({"scope":")" + scope + R"(","key":")" + key + R"(","value":true})");
    std::vector<std::string> out;
    for (const Call& c : calls) out.push_back(c.function_id);
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(fired("orders", "o1"), (Ids{"test::all", "test::scope", "test::key", "test::both"}));
  EXPECT_EQ(fired("orders", "o2"), (Ids{"test::all", "test::scope"}));
  EXPECT_EQ(fired("users", "o1"), (Ids{"test::all", "test::key"}));
  EXPECT_EQ(fired("users", "u1"), (Ids{"test::all"}));
}

TEST_F(StateWorkerTest, ConditionFunctionGatesTheHandler) {
  start();
  recorder("test::on_state");
  auto condition = std::make_shared<InProcessWorker>(engine, "condition");
  std::vector<json::value> condition_inputs;
  condition->add_function(FunctionSpec{"test::only_vip", "", {}, {}, {}},
                          SyncFunctionHandler([&](const InProcessCall& c) {
                            json::value d = parse(c.data);
                            condition_inputs.push_back(d);
                            return Outcome::success(d.at("key") == "vip" ? "true" : "false");
                          }));
  engine.add_in_process_worker(condition);
  ASSERT_EQ(bind("t", "test::on_state", R"({"condition_function_id":"test::only_vip"})"), std::nullopt);
  ok("state::set", R"({"scope":"s","key":"regular","value":1})");
  ok("state::set", R"({"scope":"s","key":"vip","value":1})");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data.at("key"), "vip");
  ASSERT_EQ(condition_inputs.size(), 2u);  // the condition sees exactly the handler's payload
  EXPECT_EQ(condition_inputs[1], calls[0].data);
}

TEST_F(StateWorkerTest, TriggersEnabledFalseSuppressesFanOut) {
  start(R"({"triggers_enabled":false})");
  recorder("test::on_state");
  ASSERT_EQ(bind("t", "test::on_state", "{}"), std::nullopt);  // still accepted
  ok("state::set", R"({"scope":"s","key":"k","value":1})");
  ok("state::delete", R"({"scope":"s","key":"k"})");
  EXPECT_TRUE(calls.empty());
}

TEST_F(StateWorkerTest, DuplicateIdReplacesAndUnregisterStops) {
  start();
  recorder("test::a");
  recorder("test::b");
  ASSERT_EQ(bind("t", "test::a", R"({"scope":"x"})"), std::nullopt);
  ASSERT_EQ(bind("t", "test::b", R"({"scope":"s"})"), std::nullopt);
  ok("state::set", R"({"scope":"s","key":"k","value":1})");
  ok("state::set", R"({"scope":"x","key":"k","value":1})");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].function_id, "test::b");
  EXPECT_TRUE(engine.unregister_trigger("t"));
  ok("state::set", R"({"scope":"s","key":"k","value":2})");
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(StateWorkerTest, MalformedTriggerConfigIsRejected) {
  start();
  std::optional<ErrorBody> e = bind("t", "test::x", R"({"scope":5})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Invalid state trigger config: `scope` must be a string, got number");
  e = bind("t2", "test::x", "[1]");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Invalid state trigger config: expected an object, got array");
  e = bind("t3", "test::x", R"({"condition_function_id":true})");
  ASSERT_TRUE(e);
}

TEST_F(StateWorkerTest, FanOutHappensAfterTheCallerHasItsAnswer) {
  start();
  std::vector<std::string> order;
  auto w = std::make_shared<InProcessWorker>(engine, "order");
  w->add_function(FunctionSpec{"test::on_state", "", {}, {}, {}}, SyncFunctionHandler([&](const InProcessCall&) {
                    order.push_back("trigger");
                    return Outcome::success("null");
                  }));
  engine.add_in_process_worker(w);
  ASSERT_EQ(bind("t", "test::on_state", "{}"), std::nullopt);
  engine.invoke("state::set", R"({"scope":"s","key":"k","value":1})", {}, [&](Outcome o) {
    EXPECT_TRUE(o.ok());
    order.push_back("answer");
  });
  EXPECT_EQ(order, (std::vector<std::string>{"answer", "trigger"}));
}

TEST_F(StateWorkerTest, MatchingTriggersRunOneAfterAnotherOnRemoteWorkers) {
  start();
  auto remote = std::make_shared<testing::RecordingEndpoint>();
  engine.attach(remote, "127.0.0.1");
  engine.on_frame(remote, R"({"type":"registerfunction","id":"remote::first"})");
  engine.on_frame(remote, R"({"type":"registerfunction","id":"remote::second"})");
  engine.on_frame(remote, R"({"type":"registertrigger","id":"a","trigger_type":"state","function_id":"remote::first","config":{}})");
  engine.on_frame(remote, R"({"type":"registertrigger","id":"b","trigger_type":"state","function_id":"remote::second","config":{"scope":"s"}})");
  ok("state::set", R"({"scope":"s","key":"k","value":1})");
  auto invocations = remote->of_type("invokefunction");
  ASSERT_EQ(invocations.size(), 1u);  // the second waits for the first handler's answer
  EXPECT_EQ(invocations[0].at("function_id"), "remote::first");
  EXPECT_EQ(invocations[0].at("data").at("event_type"), "state:created");
  // The first handler fails: the write stays, the chain goes on.
  engine.on_frame(remote, R"({"type":"invocationresult","invocation_id":")" +
                              std::string(invocations[0].at("invocation_id").as_string()) +
                              R"(","error":{"code":"boom","message":"handler failed"}})");
  invocations = remote->of_type("invokefunction");
  ASSERT_EQ(invocations.size(), 2u);
  EXPECT_EQ(invocations[1].at("function_id"), "remote::second");
  EXPECT_EQ(ok("state::get", R"({"scope":"s","key":"k"})"), json::value(1));
  // A worker that goes away takes its bindings with it.
  engine.detach(remote);
  remote->clear();
  ok("state::set", R"({"scope":"s","key":"k","value":2})");
  EXPECT_TRUE(remote->of_type("invokefunction").empty());
}

}  // namespace
}  // namespace iii
