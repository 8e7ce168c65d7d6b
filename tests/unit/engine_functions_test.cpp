// The iii-engine-functions built-in worker, driven the way a remote worker drives it: frames
// through Engine::on_frame from fake endpoints, answers read back from the frames they were sent.
#include "workers/engine/engine_functions.h"

#include <gtest/gtest.h>

#include "engine_functions_fixture.h"
#include "workers/engine/engine_functions_internal.h"

namespace iii {
namespace {

using namespace testing_fixture;
namespace json = boost::json;

// --- engine::workers::register ---

TEST_F(EngineFunctionsTest, RegisterStoresSanitizedMetadata) {
  Worker a = connect();
  json::value r = ok(a, "engine::workers::register",
                     R"({"runtime":"python","version":"0.22.1","name":"  my\u0007-wo\u202erker\n ",)"
                     R"("description":"does\u2066 things\u0085","os":"Linux 6.8","pid":42,"isolation":"vm",)"
                     R"("telemetry":{"language":"en-US","framework":null},"namespace":"ignored"})");
  EXPECT_EQ(json::serialize(r), R"({"success":true})");
  const WorkerEntry* e = entry_of(a);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->meta.name, "my-worker");
  EXPECT_EQ(e->meta.description, "does things");
  EXPECT_EQ(e->meta.runtime, "python");
  EXPECT_EQ(e->meta.version, "0.22.1");
  EXPECT_EQ(e->meta.os, "Linux 6.8");
  EXPECT_EQ(e->meta.pid, 42);
  EXPECT_EQ(e->meta.isolation, R"("vm")");
  EXPECT_EQ(json::parse(e->meta.telemetry), json::parse(R"({"language":"en-US","framework":null})"));
}

TEST_F(EngineFunctionsTest, RegisterDefaultsRuntimeAndAcceptsNullData) {
  Worker a = connect();
  EXPECT_EQ(json::serialize(ok(a, "engine::workers::register", "null")), R"({"success":true})");
  EXPECT_EQ(entry_of(a)->meta.runtime, "unknown");
  EXPECT_FALSE(entry_of(a)->meta.pid.has_value());
  EXPECT_EQ(entry_of(a)->meta.isolation, "null");
}

TEST_F(EngineFunctionsTest, RegisterRejectsWronglyTypedInput) {
  Worker a = connect();
  for (const char* data : {R"({"pid":"x"})", R"({"pid":-1})", R"({"name":5})", R"({"telemetry":"x"})", "[1]", "7"}) {
    ErrorBody e = error(a, "engine::workers::register", data);
    EXPECT_EQ(e.code, "deserialization_error") << data;
    EXPECT_TRUE(e.message.starts_with("Failed to deserialize input for engine::workers::register: ")) << e.message;
  }
  EXPECT_FALSE(entry_of(a)->meta.runtime.has_value());  // nothing stored
}

TEST(SanitizeWorkerText, StripsTrimsAndCuts) {
  using engine_fn::sanitize_worker_text;
  EXPECT_EQ(sanitize_worker_text("  a\x01" "b\x7f" "c\xc2\x9f  "), "abc");
  EXPECT_EQ(sanitize_worker_text("x\u2028y\u2029z\u202a\u2069"), "xyz");
  EXPECT_EQ(sanitize_worker_text("\u00a0 h\u00e9llo \u3000"), "h\u00e9llo");
  EXPECT_EQ(sanitize_worker_text(" \t\n"), std::nullopt);
  EXPECT_EQ(sanitize_worker_text(""), std::nullopt);
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "\u00e9";
  std::optional<std::string> cut = sanitize_worker_text(long_text);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->size(), 280u * 2);  // 280 characters of two bytes each
}

// --- engine::workers::list / info ---

TEST_F(EngineFunctionsTest, WorkersListShowsRegisteredAndInProcessWorkers) {
  Worker zeta = connect_named("zeta", "python");
  Worker alpha = connect("10.0.0.7");
  ok(alpha, "engine::workers::register", R"({"runtime":"node","name":"alpha","pid":7,"os":"Linux"})");
  Worker anonymous = connect();  // never registered: no pid, so not listed
  Worker no_pid = connect();
  ok(no_pid, "engine::workers::register", R"({"runtime":"node","name":"nopid"})");
  register_function(alpha, "alpha::one");
  register_function(alpha, "alpha::two");

  json::array rows = ok(alpha, "engine::workers::list").at("workers").as_array();
  ASSERT_EQ(ids_of(rows, "name"), (std::vector<std::string>{"alpha", "iii-engine-functions", "zeta"}));
  const json::object& a = rows[0].as_object();
  EXPECT_EQ(str(a.at("id")), alpha->worker_id());
  EXPECT_EQ(str(a.at("runtime")), "node");
  EXPECT_EQ(str(a.at("status")), "connected");
  EXPECT_EQ(str(a.at("os")), "Linux");
  EXPECT_EQ(str(a.at("ip_address")), "10.0.0.7");
  EXPECT_EQ(a.at("function_count").to_number<int>(), 2);
  EXPECT_GT(a.at("connected_at_ms").to_number<int64_t>(), 0);
  EXPECT_EQ(a.at("active_invocations").to_number<int>(), 0);
  EXPECT_TRUE(a.at("description").is_null());
  EXPECT_TRUE(a.at("version").is_null());
  EXPECT_TRUE(a.at("isolation").is_null());
  EXPECT_FALSE(a.contains("pid"));  // list rows are summaries
  EXPECT_EQ(a.size(), 12u);          // every key, always
  const json::object& engine = rows[1].as_object();
  EXPECT_EQ(str(engine.at("runtime")), "engine");
  EXPECT_EQ(str(engine.at("status")), "available");
  EXPECT_EQ(str(engine.at("isolation")), "in-process");
  EXPECT_TRUE(engine.at("ip_address").is_null());
  EXPECT_TRUE(engine.at("version").is_string());
  EXPECT_GE(engine.at("function_count").to_number<int>(), 11);
  EXPECT_FALSE(engine.contains("namespace"));
}

TEST_F(EngineFunctionsTest, WorkersListFiltersAndCountsActiveInvocations) {
  Worker alpha = connect_named("Alpha-Worker", "node");
  Worker beta = connect_named("beta", "python");
  register_function(alpha, "alpha::slow");
  frame(beta, R"({"type":"invokefunction","invocation_id":")" + new_uuid() + R"(","function_id":"alpha::slow","data":{}})");

  auto names = [&](const std::string& data) { return ids_of(ok(beta, "engine::workers::list", data).at("workers").as_array(), "name"); };
  EXPECT_EQ(names(R"({"runtime":"python"})"), (std::vector<std::string>{"beta"}));
  EXPECT_EQ(names(R"({"status":"available"})"), (std::vector<std::string>{"iii-engine-functions"}));
  EXPECT_EQ(names(R"({"status":"connected","search":"ALPHA"})"), (std::vector<std::string>{"Alpha-Worker"}));
  EXPECT_EQ(names(R"({"search":"nothing"})"), (std::vector<std::string>{}));

  json::array rows = ok(beta, "engine::workers::list", R"({"search":"alpha"})").at("workers").as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("active_invocations").to_number<int>(), 1);

  ErrorBody e = error(beta, "engine::workers::list", R"({"runtime":1})");
  EXPECT_EQ(e.code, "deserialization_error");
}

TEST_F(EngineFunctionsTest, WorkersInfoDescribesARemoteWorker) {
  Worker alpha = connect_named("alpha", "node", 99);
  register_function(alpha, "alpha::b", R"(,"description":"B")");
  register_function(alpha, "alpha::a");
  frame(alpha, R"({"type":"registertriggertype","id":"webhook","description":"Webhooks"})");
  bind(alpha, "t-2", "webhook", "alpha::a", R"({"path":"/x"})");
  bind(alpha, "t-1", "engine::workers-available", "alpha::b");
  Worker other = connect_named("other");
  register_function(other, "other::x");
  bind(other, "t-3", "webhook", "other::x");

  json::object info = ok(other, "engine::workers::info", R"({"name":"alpha"})").as_object();
  const json::object& w = info.at("worker").as_object();
  EXPECT_EQ(str(w.at("id")), alpha->worker_id());
  EXPECT_EQ(w.at("pid").to_number<int>(), 99);
  EXPECT_EQ(w.at("internal").as_bool(), false);
  EXPECT_EQ(str(w.at("status")), "connected");
  EXPECT_EQ(w.at("function_count").to_number<int>(), 2);
  EXPECT_EQ(ids_of(info.at("functions").as_array(), "function_id"), (std::vector<std::string>{"alpha::a", "alpha::b"}));
  EXPECT_EQ(str(info.at("functions").as_array()[1].at("worker_name")), "alpha");
  EXPECT_EQ(ids_of(info.at("trigger_types").as_array(), "id"), (std::vector<std::string>{"webhook"}));
  EXPECT_EQ(ids_of(info.at("registered_triggers").as_array(), "id"), (std::vector<std::string>{"t-1", "t-2"}));
}

TEST_F(EngineFunctionsTest, WorkersInfoDescribesTheInProcessWorkerAndReportsUnknownNames) {
  Worker a = connect();
  json::object info = ok(a, "engine::workers::info", R"({"name":"iii-engine-functions"})").as_object();
  const json::object& w = info.at("worker").as_object();
  EXPECT_EQ(w.at("internal").as_bool(), true);
  EXPECT_EQ(str(w.at("runtime")), "engine");
  EXPECT_FALSE(w.contains("pid"));
  std::vector<std::string> fns = ids_of(info.at("functions").as_array(), "function_id");
  for (const char* id : {"engine::workers::register", "engine::functions::list", "engine::functions::info",
                         "engine::workers::list", "engine::workers::info", "engine::triggers::list",
                         "engine::triggers::info", "engine::registered-triggers::list",
                         "engine::registered-triggers::info", "engine::register_trigger", "engine::unregister_trigger"})
    EXPECT_TRUE(contains(fns, id)) << id;
  EXPECT_FALSE(contains(fns, "engine::channels::create"));
  EXPECT_TRUE(std::is_sorted(fns.begin(), fns.end()));
  EXPECT_EQ(ids_of(info.at("trigger_types").as_array(), "id"),
            (std::vector<std::string>{"engine::functions-available", "engine::workers-available"}));

  ErrorBody e = error(a, "engine::workers::info", R"({"name":"ghost"})");
  EXPECT_EQ(e.code, "NOT_FOUND");
  EXPECT_EQ(e.message, "Worker 'ghost' is not connected.");
  e = error(a, "engine::workers::info", "{}");
  EXPECT_EQ(e.code, "deserialization_error");
  EXPECT_EQ(e.message, "Failed to deserialize input for engine::workers::info: missing field `name`");
}

// --- engine::functions::list / info ---

TEST_F(EngineFunctionsTest, FunctionsListHidesEngineAndInternalFunctionsByDefault) {
  Worker a = connect_named("math-worker");
  Worker anon = connect();
  register_function(a, "math::add", R"(,"description":"Add two numbers","metadata":{"owner":"math"})");
  register_function(a, "math::secret", R"(,"metadata":{"internal":true})");
  register_function(a, "engine::queue::list_topics");
  register_function(anon, "svc::ping");

  json::array rows = ok(a, "engine::functions::list", "null").at("functions").as_array();
  EXPECT_EQ(ids_of(rows, "function_id"), (std::vector<std::string>{"engine::queue::list_topics", "math::add", "svc::ping"}));
  EXPECT_EQ(json::serialize(rows[1]),
            R"({"function_id":"math::add","worker_name":"math-worker","description":"Add two numbers","metadata":{"owner":"math"}})");
  EXPECT_EQ(json::serialize(rows[2]), R"({"function_id":"svc::ping","worker_name":"svc"})");

  std::vector<std::string> all =
      ids_of(ok(a, "engine::functions::list", R"({"include_internal":true})").at("functions").as_array(), "function_id");
  EXPECT_TRUE(contains(all, "math::secret"));
  EXPECT_TRUE(contains(all, "engine::functions::list"));
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  json::array engine_rows =
      ok(a, "engine::functions::list", R"({"include_internal":true,"prefix":"engine::workers::l"})").at("functions").as_array();
  ASSERT_EQ(engine_rows.size(), 1u);
  EXPECT_EQ(str(engine_rows[0].at("worker_name")), "iii-engine-functions");
}

TEST_F(EngineFunctionsTest, FunctionsListFilters) {
  Worker a = connect_named("math-worker");
  Worker b = connect_named("text-worker");
  register_function(a, "math::add");
  register_function(a, "math::sub", R"(,"description":"Subtract")");
  register_function(b, "text::upper", R"(,"description":"Uppercase, no MATH involved")");
  auto list = [&](const std::string& data) {
    return ids_of(ok(a, "engine::functions::list", data).at("functions").as_array(), "function_id");
  };
  EXPECT_EQ(list(R"({"prefix":"math::s"})"), (std::vector<std::string>{"math::sub"}));
  EXPECT_EQ(list(R"({"worker":"text-worker"})"), (std::vector<std::string>{"text::upper"}));
  EXPECT_EQ(list(R"({"worker":"text-worker","workers":["math-worker"]})"),
            (std::vector<std::string>{"math::add", "math::sub", "text::upper"}));
  EXPECT_EQ(list(R"({"workers":[]})").size(), 3u);
  EXPECT_EQ(list(R"({"worker":"nobody"})"), (std::vector<std::string>{}));
  EXPECT_EQ(list(R"({"search":"SUBTRACT"})"), (std::vector<std::string>{"math::sub"}));
  // Ranked: id-anchored hits, then id substrings, then description-only hits.
  EXPECT_EQ(list(R"({"search":"math"})"), (std::vector<std::string>{"math::add", "math::sub", "text::upper"}));
  register_function(b, "app::mathematics");
  register_function(b, "zzz::math");
  EXPECT_EQ(list(R"({"search":"math"})"),
            (std::vector<std::string>{"math::add", "math::sub", "zzz::math", "app::mathematics", "text::upper"}));
  EXPECT_EQ(list(R"({"search":""})").size(), 5u);

  for (const char* data : {R"({"search":5})", R"({"workers":"math-worker"})", R"({"workers":[1]})",
                           R"({"include_internal":"yes"})", R"(["x"])"}) {
    ErrorBody e = error(a, "engine::functions::list", data);
    EXPECT_EQ(e.code, "deserialization_error") << data;
    EXPECT_TRUE(e.message.starts_with("Failed to deserialize input for engine::functions::list: ")) << e.message;
  }
}

TEST_F(EngineFunctionsTest, FunctionsInfoSingleAndBatch) {
  Worker a = connect_named("math-worker");
  register_function(a, "math::add",
                    R"(,"description":"Add","request_format":{"type":"object","properties":{"a":{"type":"number","minimum":0.5}}},)"
                    R"("response_format":{"type":"number"},"metadata":{"v":1})");
  bind(a, "trig-1", "engine::workers-available", "math::add", R"({"x":1})");

  a->clear();
  json::value detail = ok(a, "engine::functions::info", R"({"function_id":"math::add"})");
  // Numbers keep their plain form on the wire (not Boost.JSON's "5E-1").
  EXPECT_NE(a->raw_frames().back().find(R"("minimum":0.5})"), std::string::npos) << a->raw_frames().back();
  detail.at("request_schema").at("properties").at("a").as_object()["minimum"] = 1;
  EXPECT_EQ(json::serialize(detail),
            R"({"function_id":"math::add","worker_name":"math-worker","description":"Add",)"
            R"("request_schema":{"type":"object","properties":{"a":{"type":"number","minimum":1}}},)"
            R"("response_schema":{"type":"number"},"metadata":{"v":1},)"
            R"("registered_triggers":[{"id":"trig-1","trigger_type":"engine::workers-available","config":{"x":1}}]})");

  json::array batch =
      ok(a, "engine::functions::info", R"({"function_ids":["math::add","nope::x","math::add"]})").at("functions").as_array();
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(str(batch[0].at("function_id")), "math::add");
  EXPECT_TRUE(batch[0].as_object().contains("registered_triggers"));
  EXPECT_EQ(json::serialize(batch[1]), R"({"function_id":"nope::x","error":"not_found"})");

  ErrorBody e = error(a, "engine::functions::info", R"({"function_id":"nope::x"})");
  EXPECT_EQ(e.code, "NOT_FOUND");
  EXPECT_EQ(e.message, "Function 'nope::x' is not registered.");
  for (const char* data : {"{}", "null", R"({"function_id":"a","function_ids":["a"]})", R"({"function_ids":[]})"})
    EXPECT_EQ(error(a, "engine::functions::info", data).code, "INVALID_ARGUMENTS") << data;
  std::string many = R"({"function_ids":[)";
  for (int i = 0; i < 33; ++i) many += (i ? ",\"f" : "\"f") + std::to_string(i) + "\"";
  EXPECT_EQ(error(a, "engine::functions::info", many + "]}").message, "too many function_ids (max 32)");
  std::string dupes = R"({"function_ids":[)";
  for (int i = 0; i < 40; ++i) dupes += (i ? ",\"f" : "\"f") + std::to_string(i % 32) + "\"";
  EXPECT_EQ(ok(a, "engine::functions::info", dupes + "]}").at("functions").as_array().size(), 32u);
  EXPECT_EQ(error(a, "engine::functions::info", R"({"function_id":7})").code, "deserialization_error");
}

// --- engine::triggers::list / info ---

TEST_F(EngineFunctionsTest, TriggerTypesListAndInfo) {
  Worker a = connect_named("hooks");
  Worker anon = connect();
  frame(a, R"({"type":"registertriggertype","id":"webhook","description":"Webhook trigger",)"
           R"("trigger_request_format":{"type":"object"},"call_request_format":{"type":"string"}})");
  frame(anon, R"({"type":"registertriggertype","id":"storage::object-created","description":"New objects"})");
  register_function(a, "hooks::on");
  bind(a, "b1", "webhook", "hooks::on");
  bind(a, "b2", "webhook", "hooks::on");

  auto list = [&](const std::string& data) {
    return ids_of(ok(a, "engine::triggers::list", data).at("triggers").as_array(), "id");
  };
  EXPECT_EQ(list("{}"), (std::vector<std::string>{"storage::object-created", "webhook"}));
  EXPECT_EQ(list(R"({"include_internal":true})"),
            (std::vector<std::string>{"engine::functions-available", "engine::workers-available",
                                      "storage::object-created", "webhook"}));
  EXPECT_EQ(list(R"({"worker":"hooks"})"), (std::vector<std::string>{"webhook"}));
  EXPECT_EQ(list(R"({"worker":"storage"})"), (std::vector<std::string>{"storage::object-created"}));
  EXPECT_EQ(list(R"({"worker":"iii-engine-functions"})"), (std::vector<std::string>{}));
  EXPECT_EQ(list(R"({"worker":"iii-engine-functions","include_internal":true})").size(), 2u);
  EXPECT_EQ(list(R"({"search":"OBJECTS"})"), (std::vector<std::string>{"storage::object-created"}));
  EXPECT_EQ(list(R"({"prefix":"web"})"), (std::vector<std::string>{"webhook"}));
  EXPECT_EQ(json::serialize(ok(a, "engine::triggers::list", R"({"prefix":"web"})").at("triggers").as_array()[0]),
            R"({"id":"webhook","worker_name":"hooks","description":"Webhook trigger"})");

  EXPECT_EQ(json::serialize(ok(a, "engine::triggers::info", R"({"id":"webhook"})")),
            R"({"id":"webhook","worker_name":"hooks","description":"Webhook trigger",)"
            R"("configuration_schema":{"type":"object"},"request_schema":{"type":"string"},"instance_count":2})");
  json::value engine_type = ok(a, "engine::triggers::info", R"({"id":"engine::workers-available"})");
  EXPECT_EQ(str(engine_type.at("worker_name")), "iii-engine-functions");
  EXPECT_EQ(engine_type.at("instance_count").to_number<int>(), 0);

  ErrorBody e = error(a, "engine::triggers::info", R"({"id":"nope"})");
  EXPECT_EQ(e.code, "NOT_FOUND");
  EXPECT_EQ(e.message, "Trigger type 'nope' is not registered.");
  EXPECT_EQ(error(a, "engine::triggers::info", "{}").message,
            "Failed to deserialize input for engine::triggers::info: missing field `id`");
}

// --- engine::registered-triggers::list / info ---

TEST_F(EngineFunctionsTest, RegisteredTriggersListAndInfo) {
  Worker a = connect_named("app");
  frame(a, R"({"type":"registertriggertype","id":"webhook","description":"Webhook trigger"})");
  register_function(a, "app::hook", R"(,"description":"Hook")");
  const std::string long_value(100, 'x');
  bind(a, "r-2", "webhook", "app::hook", R"({"path":")" + long_value + "\"}", R"(,"metadata":{"tag":1})");
  bind(a, "r-1", "engine::workers-available", "app::hook", R"({"a":1})");
  bind(a, "r-3", "engine::workers-available", "engine::functions::list");
  bind(a, "r-4", "webhook", "gone::fn");
  bind(a, "r-5", "not-provided", "app::hook");  // parked: not listed

  auto list = [&](const std::string& data) {
    return ids_of(ok(a, "engine::registered-triggers::list", data).at("registered_triggers").as_array(), "id");
  };
  EXPECT_EQ(list("{}"), (std::vector<std::string>{"r-1", "r-2", "r-4"}));
  EXPECT_EQ(list(R"({"include_internal":true})"), (std::vector<std::string>{"r-1", "r-2", "r-3", "r-4"}));
  EXPECT_EQ(list(R"({"trigger_type":"webhook"})"), (std::vector<std::string>{"r-2", "r-4"}));
  EXPECT_EQ(list(R"({"function_id":"app::hook"})"), (std::vector<std::string>{"r-1", "r-2"}));
  EXPECT_EQ(list(R"({"worker":"app"})"), (std::vector<std::string>{"r-1", "r-2"}));
  EXPECT_EQ(list(R"({"worker":"gone"})"), (std::vector<std::string>{"r-4"}));
  EXPECT_EQ(list(R"({"search":"WORKERS-avail"})"), (std::vector<std::string>{"r-1"}));
  EXPECT_EQ(list(R"({"search":"R-4"})"), (std::vector<std::string>{"r-4"}));

  json::array rows = ok(a, "engine::registered-triggers::list", R"({"search":"r-1"})").at("registered_triggers").as_array();
  EXPECT_EQ(json::serialize(rows[0]),
            R"({"id":"r-1","trigger_type":"engine::workers-available","function_id":"app::hook","worker_name":"app",)"
            R"("config":{"a":1},"config_summary":"{\"a\":1}"})");
  rows = ok(a, "engine::registered-triggers::list", R"({"search":"r-2"})").at("registered_triggers").as_array();
  const std::string summary = str(rows[0].at("config_summary"));
  EXPECT_EQ(summary, (R"({"path":")" + long_value).substr(0, 80) + "\u2026");

  json::object detail = ok(a, "engine::registered-triggers::info", R"({"id":"r-2"})").as_object();
  EXPECT_EQ(str(detail.at("worker_name")), "app");
  EXPECT_EQ(json::serialize(detail.at("metadata")), R"({"tag":1})");
  EXPECT_EQ(str(detail.at("trigger").at("id")), "webhook");
  EXPECT_EQ(detail.at("trigger").at("instance_count").to_number<int>(), 2);
  EXPECT_EQ(str(detail.at("function").at("function_id")), "app::hook");
  EXPECT_EQ(detail.at("function").at("registered_triggers").as_array().size(), 2u);
  json::object orphan = ok(a, "engine::registered-triggers::info", R"({"id":"r-4"})").as_object();
  EXPECT_TRUE(orphan.at("function").is_null());
  EXPECT_FALSE(orphan.contains("metadata"));

  ErrorBody e = error(a, "engine::registered-triggers::info", R"({"id":"r-5"})");
  EXPECT_EQ(e.code, "NOT_FOUND");
  EXPECT_EQ(e.message, "Registered trigger 'r-5' was not found.");
  EXPECT_EQ(error(a, "engine::registered-triggers::list", R"({"worker":false})").code, "deserialization_error");
}

// --- engine::register_trigger / engine::unregister_trigger ---

TEST_F(EngineFunctionsTest, RegisterTriggerOnAnInProcessTypeIsOwnerless) {
  Worker a = connect_named("app");
  register_function(a, "app::on_worker");
  Worker caller = connect();
  json::value r = ok(caller, "engine::register_trigger",
                     R"({"trigger_type":"engine::workers-available","function_id":"app::on_worker","metadata":{"k":"v"}})");
  const std::string id = str(r.at("id"));
  EXPECT_TRUE(is_uuid(id));
  engine_.detach(caller);  // the binding outlives its creator
  auto binding = engine_.registry().find_trigger(id);
  ASSERT_TRUE(binding);
  EXPECT_EQ(binding->owner_worker_id, "");
  EXPECT_EQ(binding->config, "null");
  EXPECT_EQ(binding->metadata, R"({"k":"v"})");

  a->clear();
  Worker c = connect();
  std::vector<json::object> calls = a->frames("invokefunction");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(str(calls[0].at("function_id")), "app::on_worker");
  EXPECT_EQ(json::serialize(calls[0].at("data")), R"({"event":"worker_connected","worker_id":")" + c->worker_id() + "\"}");
  EXPECT_EQ(json::serialize(calls[0].at("metadata")), R"({"k":"v"})");

  EXPECT_EQ(json::serialize(ok(c, "engine::unregister_trigger", R"({"id":")" + id + R"(","trigger_type":"x"})")),
            R"({"removed":true})");
  EXPECT_EQ(json::serialize(ok(c, "engine::unregister_trigger", R"({"id":")" + id + "\"}")), R"({"removed":false})");
  a->clear();
  connect();
  EXPECT_TRUE(a->frames("invokefunction").empty());
  EXPECT_EQ(error(c, "engine::unregister_trigger", "{}").message,
            "Failed to deserialize input for engine::unregister_trigger: missing field `id`");
  EXPECT_EQ(error(c, "engine::unregister_trigger", R"({"id":"x","trigger_type":3})").code, "deserialization_error");
}

TEST_F(EngineFunctionsTest, RegisterTriggerWaitsForARemoteProvider) {
  Worker provider = connect_named("hooks");
  frame(provider, R"({"type":"registertriggertype","id":"webhook","description":"Webhooks"})");
  Worker caller = connect();

  // Accepted by the provider.
  const std::string invocation = new_uuid();
  frame(caller, R"({"type":"invokefunction","invocation_id":")" + invocation +
                    R"(","function_id":"engine::register_trigger","data":{"trigger_type":"webhook","function_id":"x::y","config":{"path":"/p"}}})");
  EXPECT_TRUE(caller->frames("invocationresult").empty());  // waiting for the acknowledgement
  std::vector<json::object> sent = provider->frames("registertrigger");
  ASSERT_EQ(sent.size(), 1u);
  const std::string id = str(sent[0].at("id"));
  EXPECT_EQ(json::serialize(sent[0].at("config")), R"({"path":"/p"})");
  frame(provider, R"({"type":"triggerregistrationresult","id":")" + id + R"(","trigger_type":"webhook","function_id":"x::y"})");
  std::vector<json::object> results = caller->frames("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(json::serialize(results[0].at("result")), R"({"id":")" + id + "\"}");
  EXPECT_TRUE(engine_.registry().find_trigger(id));

  // Rejected by the provider.
  caller->clear();
  provider->clear();
  frame(caller, R"({"type":"invokefunction","invocation_id":")" + new_uuid() +
                    R"(","function_id":"engine::register_trigger","data":{"trigger_type":"webhook","function_id":"x::y"}})");
  sent = provider->frames("registertrigger");
  ASSERT_EQ(sent.size(), 1u);
  const std::string rejected = str(sent[0].at("id"));
  frame(provider, R"({"type":"triggerregistrationresult","id":")" + rejected +
                      R"(","trigger_type":"webhook","function_id":"x::y","error":{"code":"bad_config","message":"path is required"}})");
  results = caller->frames("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(str(results[0].at("error").at("code")), "trigger_registration_failed");
  EXPECT_EQ(str(results[0].at("error").at("message")), "bad_config: path is required");
  EXPECT_FALSE(engine_.registry().find_trigger(rejected));
}

TEST_F(EngineFunctionsTest, RegisterTriggerParksUnknownTypesAndValidatesInput) {
  Worker caller = connect();
  json::value r = ok(caller, "engine::register_trigger", R"({"trigger_type":"later","function_id":"x::y"})");
  EXPECT_TRUE(is_uuid(str(r.at("id"))));
  EXPECT_EQ(engine_.registry().pending_trigger_count(), 1u);
  ErrorBody e = error(caller, "engine::register_trigger", R"({"trigger_type":"later"})");
  EXPECT_EQ(e.code, "deserialization_error");
  EXPECT_EQ(e.message, "Failed to deserialize input for engine::register_trigger: missing field `function_id`");
  EXPECT_EQ(error(caller, "engine::register_trigger", R"({"trigger_type":1,"function_id":"x"})").code,
            "deserialization_error");
  EXPECT_EQ(error(caller, "engine::register_trigger", "null").code, "deserialization_error");
}

// --- trigger types ---

TEST_F(EngineFunctionsTest, WorkersAvailableFiresOnConnectRegisterAndDisconnect) {
  Worker a = connect_named("watcher");
  register_function(a, "watcher::on_worker");
  bind(a, "w-1", "engine::workers-available", "watcher::on_worker", "{}", R"(,"metadata":{"tag":1})");
  a->clear();

  Worker c = connect();
  ok(c, "engine::workers::register", R"({"name":"c"})");
  engine_.detach(c);
  std::vector<json::object> calls = a->frames("invokefunction");
  ASSERT_EQ(calls.size(), 3u);
  const std::string wid = c->worker_id();
  EXPECT_EQ(json::serialize(calls[0].at("data")), R"({"event":"worker_connected","worker_id":")" + wid + "\"}");
  EXPECT_EQ(json::serialize(calls[1].at("data")), R"({"event":"worker_metadata_updated","worker_id":")" + wid + "\"}");
  EXPECT_EQ(json::serialize(calls[2].at("data")), R"({"event":"worker_disconnected","worker_id":")" + wid + "\"}");
  EXPECT_EQ(json::serialize(calls[0].at("metadata")), R"({"tag":1})");

  a->clear();
  frame(a, R"({"type":"unregistertrigger","id":"w-1","trigger_type":"engine::workers-available"})");
  connect();
  EXPECT_TRUE(a->frames("invokefunction").empty());
}

TEST_F(EngineFunctionsTest, WorkersAvailableHonoursConditionFunctions) {
  Worker a = connect_named("watcher");
  register_function(a, "watcher::on_worker");
  register_function(a, "watcher::cond");
  bind(a, "w-1", "engine::workers-available", "watcher::on_worker", R"({"condition_function_id":"watcher::cond"})");

  auto answer_condition = [&](const char* result) {
    std::vector<json::object> calls = a->frames("invokefunction");
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(str(calls[0].at("function_id")), "watcher::cond");
    a->clear();
    frame(a, R"({"type":"invocationresult","invocation_id":")" + str(calls[0].at("invocation_id")) +
                 R"(","function_id":"watcher::cond","result":)" + result + "}");
  };
  a->clear();
  connect();
  answer_condition("false");
  EXPECT_TRUE(a->frames("invokefunction").empty());  // skipped
  connect();
  answer_condition("true");
  std::vector<json::object> calls = a->frames("invokefunction");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(str(calls[0].at("function_id")), "watcher::on_worker");
}

TEST_F(EngineFunctionsTest, FunctionsAvailableFiresWhenTheFunctionSetChanges) {
  Worker a = connect_named("watcher");
  register_function(a, "watcher::on_functions");
  bind(a, "f-1", "engine::functions-available", "watcher::on_functions");
  const Clock::time_point t0 = Clock::now();
  engine_.tick(t0);  // first poll: compared with nothing, so it reports the current set
  ASSERT_EQ(a->frames("invokefunction").size(), 1u);
  a->clear();

  Worker b = connect_named("beta");
  register_function(b, "beta::new", R"(,"description":"New","metadata":{"internal":true})");
  engine_.tick(t0 + std::chrono::seconds(1));  // not yet: polled every 5 s
  EXPECT_TRUE(a->frames("invokefunction").empty());
  engine_.tick(t0 + std::chrono::seconds(6));
  std::vector<json::object> calls = a->frames("invokefunction");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(str(calls[0].at("function_id")), "watcher::on_functions");
  const json::object& data = calls[0].at("data").as_object();
  EXPECT_EQ(str(data.at("event")), "functions_changed");
  std::vector<std::string> ids = ids_of(data.at("functions").as_array(), "function_id");
  EXPECT_TRUE(contains(ids, "beta::new"));                // unfiltered: internal ones too
  EXPECT_TRUE(contains(ids, "engine::functions::list"));  // and the engine's own
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  for (const auto& f : data.at("functions").as_array()) {
    if (f.at("function_id").as_string() != "beta::new") continue;
    EXPECT_EQ(json::serialize(f),
              R"({"function_id":"beta::new","worker_name":"beta","description":"New","metadata":{"internal":true}})");
  }

  a->clear();
  engine_.tick(t0 + std::chrono::seconds(12));  // unchanged
  EXPECT_TRUE(a->frames("invokefunction").empty());
  engine_.detach(b);  // beta::new goes away
  engine_.tick(t0 + std::chrono::seconds(18));
  ASSERT_EQ(a->frames("invokefunction").size(), 1u);

  a->clear();
  EXPECT_EQ(json::serialize(ok(a, "engine::unregister_trigger", R"({"id":"f-1"})")), R"({"removed":true})");
  register_function(a, "watcher::more");
  engine_.tick(t0 + std::chrono::seconds(24));
  EXPECT_TRUE(a->frames("invokefunction").empty());
}

}  // namespace
}  // namespace iii
