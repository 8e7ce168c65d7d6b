#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>

#include "config/builtin_supervisor.h"
#include "config/engine_config.h"
#include "engine/in_process_worker.h"
#include "workers/builtin.h"
#include "workers/configuration/configuration_worker.h"
#include "workers/pubsub/pubsub_worker.h"

namespace iii::config {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "config.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ListenersAndBuiltinsWithAliases) {
  auto c = parse_config(R"(
workers:
  - name: iii-worker-manager
    config: { port: 5000, host: 127.0.0.1, invocation_timeout_ms: 1500, max_json_depth: 64 }
  - name: iii-worker-manager
    config: { port: 5001 }
  - name: state
    config:
      adapter: { name: kv, config: { store_method: file_based, file_path: "./data/x.db" } }
      triggers_enabled: true
      max_value_bytes: 10
  - name: http
  - name: http
modules:
  - name: iii-cron
)", "c.yaml");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].port, 5000);
  EXPECT_EQ(c.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(c.listeners[1].port, 5001);
  EXPECT_EQ(c.engine.invocation_timeout.count(), 1500);
  EXPECT_EQ(c.max_json_depth, 64u);
  ASSERT_EQ(c.workers.size(), 6u);  // the four listed, then iii-observability and configuration (always run)
  EXPECT_EQ(c.workers[4].name, "iii-observability");
  EXPECT_TRUE(c.workers[4].config.is_null());
  EXPECT_EQ(c.workers[5].name, "configuration");
  EXPECT_TRUE(c.workers[5].config.is_null());
  EXPECT_EQ(c.workers[0].name, "iii-state");
  EXPECT_EQ(c.workers[0].config.at("triggers_enabled"), true);
  EXPECT_EQ(c.workers[0].config.at("max_value_bytes"), 10);
  EXPECT_EQ(c.workers[0].config.at("adapter").at("config").at("file_path"), "./data/x.db");
  EXPECT_EQ(c.workers[0].line, 7);
  EXPECT_EQ(c.workers[1].instance_id, "iii-http");
  EXPECT_EQ(c.workers[2].instance_id, "iii-http#1");
  EXPECT_EQ(c.workers[3].name, "iii-cron");
}

TEST(Config, EmptyAndDefaults) {
  auto c = parse_config("workers: []\n", "c.yaml");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 49134);
  ASSERT_EQ(c.workers.size(), 2u);  // observability and configuration are mandatory: defaults without an entry
  EXPECT_EQ(c.workers[0].name, "iii-observability");
  EXPECT_EQ(c.workers[1].name, "configuration");
  auto listed = parse_config(
      "workers:\n  - name: observability\n    config: { enabled: false }\n  - name: configuration\n    config: { ttl_seconds: 5 }\n",
      "c.yaml");
  ASSERT_EQ(listed.workers.size(), 2u);  // listed (observability by its alias): not added twice
  EXPECT_EQ(listed.workers[0].config.at("enabled"), false);
  EXPECT_EQ(listed.workers[1].config.at("ttl_seconds"), 5);
  auto d = embedded_default();
  ASSERT_EQ(d.workers.size(), 8u);
  EXPECT_EQ(d.workers[0].name, "iii-http");
  EXPECT_EQ(d.workers[1].name, "iii-state");
  EXPECT_EQ(d.workers[2].name, "iii-queue");
}

TEST(Config, ScalarsAreTypedAndQuotedStringsStayStrings) {
  auto c = parse_config("workers:\n  - name: x\n    config: { a: 1, b: 1.5, c: \"1\", d: ~, e: hello, f: [1, 'two'] }\n", "c.yaml");
  const auto& cfg = c.workers[0].config;
  EXPECT_TRUE(cfg.at("a").is_int64());
  EXPECT_TRUE(cfg.at("b").is_double());
  EXPECT_TRUE(cfg.at("c").is_string());
  EXPECT_TRUE(cfg.at("d").is_null());
  EXPECT_EQ(cfg.at("e"), "hello");
  EXPECT_EQ(cfg.at("f").as_array()[1], "two");
}

TEST(Config, ErrorsNameTheLineAndTheReason) {
  EXPECT_EQ(error_of("workers:\n  - name: iii-worker-manager\n    config:\n      prot: 1\n"),
            "config.yaml:4: unknown key `prot` in the iii-worker-manager config (known: port, host, handshake_timeout_ms, "
            "max_message_bytes, max_send_queue_bytes, invocation_timeout_ms, max_json_depth, middleware_function_id, rbac)");
  EXPECT_NE(error_of("workers:\n  - name: iii-worker-manager\n    config:\n      max_json_depth: 2000\n")
                .find("config.yaml:4: `max_json_depth` must be between 1 and 1024, got 2000"),
            std::string::npos);
  EXPECT_NE(error_of("workers:\n  - name: iii-worker-manager\n    config:\n      invocation_timeout_ms: 0\n")
                .find("config.yaml:4: `invocation_timeout_ms` must be at least 1"),
            std::string::npos);
  EXPECT_NE(error_of("workers:\n  - name: iii-worker-manager\n    config:\n      port: abc\n").find("config.yaml:4: `port` has an invalid value `abc`"), std::string::npos);
  EXPECT_NE(error_of("wrokers: []\n").find("config.yaml:1: unknown top-level key `wrokers`"), std::string::npos);
  EXPECT_NE(error_of("workers:\n  - nmae: x\n").find("config.yaml:2: unknown key `nmae`"), std::string::npos);
  EXPECT_NE(error_of("workers: [\n").find("invalid YAML"), std::string::npos);
  EXPECT_NE(error_of("workers:\n  - name: http\n  - name: iii-http\n").find("Duplicate worker configurations"), std::string::npos);
  EXPECT_NE(error_of("workers:\n  - name: iii-http\n    image: foo\n").find("`image` is not allowed"), std::string::npos);
  EXPECT_NE(error_of("workers:\n  - name: x\n    config: [1]\n").find("must be a mapping"), std::string::npos);
}

TEST(Config, EnvironmentSubstitution) {
  ::setenv("III_TEST_PORT", "6001", 1);
  ::unsetenv("III_TEST_UNSET");
  EXPECT_EQ(substitute_env("a: ${III_TEST_PORT}\nb: ${III_TEST_UNSET:redis://localhost:6379}\nc: $PLAIN", "f"),
            "a: 6001\nb: redis://localhost:6379\nc: $PLAIN");
  EXPECT_EQ(substitute_env("v: ${III_TEST_UNSET:__III_ENGINE_VERSION__}", "f"), std::string("v: ") + III_VERSION);
  try {
    substitute_env("a: 1\n# ${III_TEST_UNSET}\n", "f.yaml");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("f.yaml:2: environment variable `III_TEST_UNSET` is not set"), std::string::npos);
  }
  auto c = parse_config("workers:\n  - name: iii-worker-manager\n    config: { port: ${III_TEST_PORT} }\n", "c.yaml");
  EXPECT_EQ(c.listeners[0].port, 6001);
}

// The official RBAC fixture: the second listener carries access rules, the first none.
TEST(Config, RbacBlockOnASecondListener) {
  auto c = parse_config(R"(
workers:
  - name: iii-worker-manager
    config:
      port: 49134
  - name: iii-worker-manager
    config:
      port: 49135
      rbac:
        auth_function_id: test::rbac-worker::auth
        expose_functions:
          - match("test::rbac-worker::*")
          - metadata:
              public: true
)", "c.yaml");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].access, nullptr);
  ASSERT_NE(c.listeners[1].access, nullptr);
  const AccessRules& rules = *c.listeners[1].access;
  EXPECT_TRUE(rules.rbac);
  EXPECT_EQ(rules.auth_function_id, "test::rbac-worker::auth");
  EXPECT_TRUE(rules.middleware_function_id.empty());
  EXPECT_EQ(rules.listener, "0.0.0.0:49135");
  ASSERT_EQ(rules.expose_functions.size(), 2u);
  EXPECT_EQ(rules.expose_functions[0].id_glob, "test::rbac-worker::*");
  ASSERT_EQ(rules.expose_functions[1].metadata.size(), 1u);
  EXPECT_EQ(rules.expose_functions[1].metadata[0].key, "public");
  // YAML `true` must arrive as a JSON bool, or it would never equal a worker's `public: true`.
  EXPECT_EQ(rules.expose_functions[1].metadata[0].exact, boost::json::value(true));
  // The listener string follows the port and host whatever order they are written in.
  auto h = parse_config("workers:\n  - name: iii-worker-manager\n    config:\n      rbac: {}\n      host: 127.0.0.1\n      port: 5001\n", "c.yaml");
  ASSERT_NE(h.listeners[0].access, nullptr);
  EXPECT_EQ(h.listeners[0].access->listener, "127.0.0.1:5001");
}

TEST(Config, RbacErrorsNameTheKeyOrTheEntry) {
  const std::string unknown = error_of(
      "workers:\n  - name: iii-worker-manager\n    config:\n      rbac:\n        auth_function_id: a::b\n        expose_function: []\n");
  EXPECT_NE(unknown.find("config.yaml:"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("unknown key `expose_function`"), std::string::npos) << unknown;
  const std::string bare = error_of(
      "workers:\n  - name: iii-worker-manager\n    config:\n      rbac:\n        expose_functions:\n          - api::*\n");
  EXPECT_NE(bare.find("config.yaml:"), std::string::npos) << bare;
  EXPECT_NE(bare.find("api::*"), std::string::npos) << bare;
  EXPECT_NE(error_of("workers:\n  - name: iii-worker-manager\n    config:\n      rbac: [1]\n").find("`rbac` must be a mapping"),
            std::string::npos);
}

TEST(Config, MiddlewareAloneGivesAccessWithoutRbac) {
  auto c = parse_config("workers:\n  - name: iii-worker-manager\n    config:\n      port: 5002\n      middleware_function_id: sec::mw\n", "c.yaml");
  ASSERT_EQ(c.listeners.size(), 1u);
  ASSERT_NE(c.listeners[0].access, nullptr);
  EXPECT_FALSE(c.listeners[0].access->rbac);
  EXPECT_EQ(c.listeners[0].access->middleware_function_id, "sec::mw");
  EXPECT_EQ(c.listeners[0].access->listener, "0.0.0.0:5002");
  // An empty or null middleware and a null rbac block are the same as none.
  auto n = parse_config("workers:\n  - name: iii-worker-manager\n    config:\n      middleware_function_id: ~\n      rbac: ~\n", "c.yaml");
  EXPECT_EQ(n.listeners[0].access, nullptr);
  auto e = parse_config("workers:\n  - name: iii-worker-manager\n    config:\n      middleware_function_id: \"\"\n", "c.yaml");
  EXPECT_EQ(e.listeners[0].access, nullptr);
}

// A built-in for supervisor tests: one function, config key `value` returned by it.
class EchoBuiltin : public BuiltinWorker {
 public:
  EchoBuiltin(Engine& engine, std::string value) : endpoint_(std::make_shared<InProcessWorker>(engine, "echo")) {
    endpoint_->add_function({"echo::value", {}, {}, {}, {}}, SyncFunctionHandler([value](const InProcessCall&) {
                              return Outcome::success("\"" + value + "\"");
                            }));
  }
  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }
  void start() override { ++starts; }
  void stop() override { ++stops; }
  static inline int starts = 0, stops = 0;

 private:
  std::shared_ptr<InProcessWorker> endpoint_;
};

BuiltinDescriptor echo_descriptor() {
  return {"iii-echo", {"echo"}, [](BuiltinContext& ctx, const boost::json::value& config) -> std::unique_ptr<BuiltinWorker> {
            require_known_keys(config, "iii-echo", {"value"});
            std::string value = config.is_object() && config.as_object().contains("value")
                                    ? std::string(config.at("value").as_string())
                                    : "default";
            return std::make_unique<EchoBuiltin>(ctx.engine, value);
          }};
}

std::string call_echo(Engine& engine) {
  std::string out;
  engine.invoke("echo::value", "{}", "", [&](Outcome o) { out = o.ok() ? o.result : o.error->code; });
  return out;
}

TEST(BuiltinSupervisor, StartsReloadsAndRejectsBadBlocksWithoutChangingAnything) {
  Engine engine;
  BuiltinSupervisor supervisor(engine, {echo_descriptor()}, ".");
  supervisor.start(parse_config("workers:\n  - name: echo\n    config: { value: one }\n  - name: iii-unknown\n", "c.yaml"));
  EXPECT_EQ(call_echo(engine), "\"one\"");
  EXPECT_EQ(supervisor.running(), std::vector<std::string>{"echo"});

  // A bad block is rejected with its line and the running worker keeps serving.
  EXPECT_THROW(supervisor.apply(parse_config("workers:\n  - name: echo\n    config: { valu: two }\n", "c.yaml")), ConfigError);
  EXPECT_EQ(call_echo(engine), "\"one\"");

  // A changed block replaces the worker.
  std::string summary = supervisor.apply(parse_config("workers:\n  - name: echo\n    config: { value: two }\n", "c.yaml"));
  EXPECT_NE(summary.find("changed: echo"), std::string::npos);
  EXPECT_EQ(call_echo(engine), "\"two\"");
  // Unchanged: nothing restarts.
  const int starts = EchoBuiltin::starts;
  supervisor.apply(parse_config("workers:\n  - name: echo\n    config: { value: two }\n", "c.yaml"));
  EXPECT_EQ(EchoBuiltin::starts, starts);
  // Removed: its functions go away.
  supervisor.apply(parse_config("workers: []\n", "c.yaml"));
  EXPECT_EQ(call_echo(engine), "function_not_found");
}


// docs/builtins.md §0.3: a block set through set_block() (what configuration::set on a built-in's
// id calls) goes through the factory like a reload, and wins until the file's block changes.
TEST(BuiltinSupervisor, SetBlockAppliesLiveAndTheFileWinsWhenItChanges) {
  Engine engine;
  BuiltinSupervisor supervisor(engine, {echo_descriptor()}, ".");
  supervisor.start(parse_config("workers:\n  - name: echo\n    config: { value: one }\n", "c.yaml"));
  EXPECT_FALSE(supervisor.set_block("echo", boost::json::parse(R"({"value":"set"})")));
  EXPECT_EQ(call_echo(engine), "\"set\"");
  std::optional<ErrorBody> refused = supervisor.set_block("echo", boost::json::parse(R"({"valu":"x"})"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, "SCHEMA_INVALID");
  EXPECT_NE(refused->message.find("unknown key `valu`"), std::string::npos) << refused->message;
  EXPECT_EQ(call_echo(engine), "\"set\"");
  EXPECT_EQ(supervisor.set_block("nothing", nullptr)->code, "ADAPTER_ERROR");
  // The file's block did not change: the set block stays.
  supervisor.apply(parse_config("workers:\n  - name: echo\n    config: { value: one }\n", "c.yaml"));
  EXPECT_EQ(call_echo(engine), "\"set\"");
  // It changed: the file wins.
  supervisor.apply(parse_config("workers:\n  - name: echo\n    config: { value: two }\n", "c.yaml"));
  EXPECT_EQ(call_echo(engine), "\"two\"");
}

// The built-ins' blocks are entries of the configuration worker; setting one replaces the
// built-in, a refused one changes nothing.
TEST(BuiltinSupervisor, BlocksArePublishedInTheConfigurationWorker) {
  Engine engine;
  BuiltinDescriptor configuration{"configuration", {}, [](BuiltinContext& ctx, const boost::json::value&) {
                                    return make_configuration_worker(ctx.engine, ConfigurationConfig{},
                                                                     std::make_shared<MemoryConfigurationStore>());
                                  }};
  BuiltinSupervisor supervisor(engine, {pubsub_builtin(), configuration}, ".");
  supervisor.start(parse_config("workers:\n  - name: pubsub\n", "c.yaml"));
  auto invoke = [&](const std::string& id, const std::string& data) {
    Outcome out = Outcome::failure("no_answer", "");
    engine.invoke(id, data, "", [&](Outcome o) { out = std::move(o); });
    return out;
  };
  Outcome got = invoke("configuration::get", R"({"id":"iii-pubsub"})");
  ASSERT_TRUE(got.ok()) << got.error->message;
  EXPECT_EQ(boost::json::parse(got.result), boost::json::parse(R"({"id":"iii-pubsub","value":null})"));
  EXPECT_TRUE(invoke("configuration::set", R"({"id":"iii-pubsub","value":{"adapter":{"name":"local"}}})").ok());
  EXPECT_EQ(invoke("configuration::set", R"({"id":"iii-pubsub","value":{"adapter":{"name":"kafka"}}})").error->code,
            "SCHEMA_INVALID");
  EXPECT_EQ(invoke("configuration::set", R"({"id":"iii-pubsub","value":{"adapter":{"name":"local","config":{"x":1}}}})")
                .error->code,
            "SCHEMA_INVALID");
  got = invoke("configuration::get", R"({"id":"iii-pubsub"})");
  EXPECT_EQ(boost::json::parse(got.result).at("value"), boost::json::parse(R"({"adapter":{"name":"local"}})"));
  EXPECT_TRUE(invoke("publish", R"({"topic":"t","data":1})").ok());  // the replacement serves
  // Removed from the file: its entry goes.
  supervisor.apply(parse_config("workers: []\n", "c.yaml"));
  EXPECT_EQ(invoke("configuration::get", R"({"id":"iii-pubsub"})").error->code, "NOT_FOUND");
}

}  // namespace
}  // namespace iii::config
