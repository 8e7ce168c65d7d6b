// The configuration built-in driven through a real Engine on an in-memory store: every
// configuration::* function with its shapes and error codes, templating on read, the
// `configuration` trigger type (filters, conditions, metadata, payload) and TTL expiry.
#include "builtin_worker_fixture.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>

#include "workers/configuration/configuration_worker.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr const char* kSchema =
    R"({"type":"object","properties":{"n":{"type":"integer","minimum":0},"host":{"type":"string"}},"required":["n"],"additionalProperties":false})";

// A store whose writes fail like a full disk.
class FailingStore : public MemoryConfigurationStore {
 public:
  void put(const ConfigurationEntry&) override {
    if (fail) throw ConfigurationStoreError("disk full");
  }
  bool fail = false;
};

// A store edited behind the worker's back: edit() queues a change and tells the watcher.
class EditedStore : public MemoryConfigurationStore {
 public:
  void watch(std::function<void()> changed) override { changed_ = std::move(changed); }
  std::vector<ExternalChange> poll_changes() override { return std::exchange(pending_, {}); }
  void edit(ExternalChange change) {
    pending_.push_back(std::move(change));
    changed_();
  }

 private:
  std::function<void()> changed_;
  std::vector<ExternalChange> pending_;
};

class ConfigurationWorkerTest : public BuiltinWorkerFixture {
 protected:
  ~ConfigurationWorkerTest() override {
    if (worker) worker->stop();
  }

  void start(uint64_t ttl_seconds = 0, std::shared_ptr<ConfigurationStore> with = nullptr) {
    store = with ? with : std::make_shared<MemoryConfigurationStore>();
    worker = make_configuration_worker(engine, ConfigurationConfig{.directory = {}, .ttl_seconds = ttl_seconds, .bridge_url = {}}, store);
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
  }

  std::string registration(const std::string& id, std::string_view initial = "") {
    std::string text = R"({"id":")" + id + R"(","name":"Bar","description":"bar config","schema":)" + kSchema;
    if (!initial.empty()) text += R"(,"initial_value":)" + std::string(initial);
    return text + "}";
  }

  std::optional<ErrorBody> bind(const std::string& id, const std::string& function_id, const std::string& config,
                                const std::string& metadata = "") {
    return bind_trigger("configuration", id, function_id, config, metadata);
  }

  std::shared_ptr<ConfigurationStore> store;
  std::unique_ptr<BuiltinWorker> worker;
};

TEST_F(ConfigurationWorkerTest, RegisterSetGetListSchema) {
  start();
  json::value entry = ok("configuration::register", registration("bar-cfg", R"({"n":1})"));
  EXPECT_EQ(entry, json_of(R"({"id":"bar-cfg","name":"Bar","description":"bar config","schema":)" + std::string(kSchema) +
                           R"(,"value":{"n":1}})"));
  EXPECT_EQ(ok("configuration::set", R"({"id":"bar-cfg","value":{"n":5}})"),
            json_of(R"({"old_value":{"n":1},"new_value":{"n":5}})"));
  EXPECT_EQ(ok("configuration::get", R"({"id":"bar-cfg"})"), json_of(R"({"id":"bar-cfg","value":{"n":5}})"));

  // Re-registering keeps the value unless initial_value is given; metadata is echoed.
  entry = ok("configuration::register",
             R"({"id":"bar-cfg","name":"Bar 2","description":"d","schema":{"type":"object"},"metadata":{"team":"x"}})");
  EXPECT_EQ(entry.at("value"), json_of(R"({"n":5})"));
  EXPECT_EQ(entry.at("metadata"), json_of(R"({"team":"x"})"));
  ok("configuration::register", registration("a-first"));
  EXPECT_EQ(ok("configuration::get", R"({"id":"a-first"})").at("value"), json::value(nullptr));

  EXPECT_EQ(ok("configuration::list", "{}"),
            json_of(R"({"configurations":[{"id":"a-first","name":"Bar","description":"bar config","schema":)" +
                    std::string(kSchema) +
                    R"(},{"id":"bar-cfg","name":"Bar 2","description":"d","schema":{"type":"object"},"metadata":{"team":"x"}}]})"));
  EXPECT_EQ(ok("configuration::schema", R"({"id":"bar-cfg"})"),
            json_of(R"({"id":"bar-cfg","name":"Bar 2","description":"d","schema":{"type":"object"},"metadata":{"team":"x"}})"));
}

TEST_F(ConfigurationWorkerTest, ErrorCodes) {
  start();
  ok("configuration::register", registration("bar-cfg", R"({"n":1})"));
  ErrorBody e = error("configuration::set", R"({"id":"bar-cfg","value":{"n":-3}})");
  EXPECT_EQ(e.code, "SCHEMA_INVALID");
  EXPECT_NE(e.message.find("schema validation failed: /n: "), std::string::npos) << e.message;
  EXPECT_EQ(ok("configuration::get", R"({"id":"bar-cfg"})").at("value"), json_of(R"({"n":1})"));  // unchanged
  EXPECT_EQ(error("configuration::register", registration("other", R"({"n":"x"})")).code, "SCHEMA_INVALID");
  EXPECT_EQ(error("configuration::get", R"({"id":"other"})").code, "NOT_FOUND");  // nothing registered
  e = error("configuration::register", R"({"id":"s","name":"n","description":"d","schema":"object"})");
  EXPECT_EQ(e.code, "SCHEMA_INVALID");
  EXPECT_NE(e.message.find("invalid JSON Schema"), std::string::npos) << e.message;
  EXPECT_EQ(error("configuration::register", R"({"id":"s","name":"n","description":"d","schema":{"$ref":"#"}})").code,
            "SCHEMA_INVALID");
  e = error("configuration::set", R"({"id":"Bad.Id","value":1})");
  EXPECT_EQ(e.code, "INVALID_ID");
  EXPECT_EQ(e.message, "invalid configuration id 'Bad.Id': must match [a-z0-9_-]{1,64}");
  EXPECT_EQ(error("configuration::register", registration(std::string(65, 'a'))).code, "INVALID_ID");
  e = error("configuration::set", R"({"id":"nobody","value":1})");
  EXPECT_EQ(e.code, "NOT_REGISTERED");
  EXPECT_EQ(e.message, "configuration 'nobody' is not registered; call configuration::register first");
  EXPECT_EQ(error("configuration::schema", R"({"id":"nobody"})").code, "NOT_FOUND");
  EXPECT_EQ(error("configuration::get", R"({"id":"nobody"})").message, "configuration 'nobody' not found");
  EXPECT_EQ(error("configuration::register", R"({"id":"x","name":"n"})").code, codes::kDeserializationError);
  EXPECT_EQ(error("configuration::set", R"({"id":"bar-cfg"})").code, codes::kDeserializationError);
  EXPECT_EQ(error("configuration::get", R"({"id":"bar-cfg","raw":"yes"})").code, codes::kDeserializationError);

  // An entry known without its schema (a file of a worker that did not register yet).
  ok("configuration::register", R"({"id":"unowned","name":"n","description":"d","schema":null,"initial_value":{"n":1}})");
  EXPECT_EQ(error("configuration::set", R"({"id":"unowned","value":{"n":2}})").code, "SCHEMA_UNAVAILABLE");
}

TEST_F(ConfigurationWorkerTest, AStoreFailureChangesNothing) {
  auto failing = std::make_shared<FailingStore>();
  start(0, failing);
  ok("configuration::register", registration("bar-cfg", R"({"n":1})"));
  failing->fail = true;
  ErrorBody e = error("configuration::set", R"({"id":"bar-cfg","value":{"n":2}})");
  EXPECT_EQ(e.code, "ADAPTER_ERROR");
  EXPECT_EQ(e.message, "disk full");
  EXPECT_EQ(error("configuration::register", registration("new-one")).code, "ADAPTER_ERROR");
  EXPECT_EQ(ok("configuration::get", R"({"id":"bar-cfg"})").at("value"), json_of(R"({"n":1})"));
  EXPECT_EQ(error("configuration::get", R"({"id":"new-one"})").code, "NOT_FOUND");
}

TEST_F(ConfigurationWorkerTest, ValuesAreExpandedOnReadAndCheckedExpanded) {
  ::setenv("CFG_TEST_N", "7", 1);
  ::unsetenv("CFG_TEST_UNSET");
  start();
  // "${CFG_TEST_N:1}" is checked as the integer 7, and stored as written.
  ok("configuration::register", registration("tpl", R"({"n":"${CFG_TEST_N:1}","host":"h-${CFG_TEST_N}"})"));
  EXPECT_EQ(ok("configuration::get", R"({"id":"tpl"})").at("value"), json_of(R"({"n":7,"host":"h-7"})"));
  EXPECT_EQ(ok("configuration::get", R"({"id":"tpl","raw":true})").at("value"),
            json_of(R"({"n":"${CFG_TEST_N:1}","host":"h-${CFG_TEST_N}"})"));
  EXPECT_EQ(error("configuration::set", R"({"id":"tpl","value":{"n":"${CFG_TEST_UNSET:x}"}})").code, "SCHEMA_INVALID");
  // A variable with no value and no default: stored, but reads fail until it is set.
  ok("configuration::set", R"({"id":"tpl","value":{"n":"${CFG_TEST_UNSET}"}})");
  ErrorBody e = error("configuration::get", R"({"id":"tpl"})");
  EXPECT_EQ(e.code, "EXPAND_FAILED");
  EXPECT_NE(e.message.find("CFG_TEST_UNSET"), std::string::npos);
  ::setenv("CFG_TEST_UNSET", "-1", 1);  // set now, but against the schema
  EXPECT_EQ(error("configuration::get", R"({"id":"tpl"})").code, "SCHEMA_INVALID");
  ::setenv("CFG_TEST_UNSET", "3", 1);
  EXPECT_EQ(ok("configuration::get", R"({"id":"tpl"})").at("value"), json_of(R"({"n":3})"));
  ::unsetenv("CFG_TEST_UNSET");
}

TEST_F(ConfigurationWorkerTest, TriggersWithFiltersConditionsAndMetadata) {
  ::setenv("CFG_TEST_N", "7", 1);
  start();
  recorder("h::all");
  recorder("h::bar-updates");
  recorder("h::cond", "false");
  recorder("h::skipped");
  ASSERT_FALSE(bind("t-all", "h::all", "{}", R"({"m":1})"));
  ASSERT_FALSE(bind("t-bar", "h::bar-updates", R"({"configuration_id":"bar","event_types":["configuration:updated"]})"));
  ASSERT_FALSE(bind("t-cond", "h::skipped", R"({"condition_function_id":"h::cond"})"));
  EXPECT_EQ(bind("t-bad", "h::all", R"({"event_types":["configuration:created"]})")->code, codes::kTriggerRegistrationFailed);
  EXPECT_TRUE(bind("t-bad2", "h::all", R"({"event_types":"configuration:updated"})"));
  EXPECT_TRUE(bind("t-bad3", "h::all", R"({"configuration_id":5})"));

  ok("configuration::register", registration("bar", R"({"n":"${CFG_TEST_N}"})"));
  ok("configuration::set", R"({"id":"bar","value":{"n":2}})");
  ok("configuration::register", registration("other", R"({"n":3})"));
  error("configuration::set", R"({"id":"bar","value":{"n":-1}})");  // refused: no event
  ok("configuration::get", R"({"id":"bar"})");  // reads fire nothing

  std::vector<std::string> all, bar;
  for (const Call& c : calls) {
    if (c.function_id == "h::all") all.push_back(std::string(c.data.at("event_type").as_string()) + " " +
                                                 std::string(c.data.at("id").as_string()));
    if (c.function_id == "h::bar-updates") bar.push_back(std::string(c.data.at("event_type").as_string()));
    EXPECT_NE(c.function_id, "h::skipped");
  }
  EXPECT_EQ(all, (std::vector<std::string>{"configuration:registered bar", "configuration:updated bar",
                                           "configuration:registered other"}));
  EXPECT_EQ(bar, (std::vector<std::string>{"configuration:updated"}));
  const Call& first = calls[0];
  EXPECT_EQ(first.function_id, "h::all");
  EXPECT_EQ(first.data, json_of(R"({"type":"configuration","event_type":"configuration:registered","id":"bar",
      "name":"Bar","description":"bar config","schema":)" + std::string(kSchema) +
                                R"(,"old_value":null,"new_value":{"n":7}})"));  // expanded
  EXPECT_EQ(json_of(first.metadata), json_of(R"({"m":1})"));
  for (const Call& c : calls)
    if (c.function_id == "h::bar-updates") {
      EXPECT_EQ(c.data.at("old_value"), json_of(R"({"n":7})"));
    }
}

TEST_F(ConfigurationWorkerTest, ExternalEditsAreCheckedThenServedAndFired) {
  auto edited = std::make_shared<EditedStore>();
  start(0, edited);
  recorder("h::all");
  ASSERT_FALSE(bind("t-all", "h::all", "{}"));
  ok("configuration::register", registration("bar", R"({"n":1})"));
  const auto file = [](std::string_view value) {
    return ConfigurationEntry{"bar", "Bar", "bar config", nullptr, json_of(value), std::nullopt};  // no schema in files
  };
  edited->edit({ExternalChange::Kind::kUpdated, file(R"({"n":2})")});
  EXPECT_EQ(ok("configuration::get", R"({"id":"bar"})").at("value"), json_of(R"({"n":2})"));
  EXPECT_EQ(ok("configuration::schema", R"({"id":"bar"})").at("schema"), json_of(kSchema));  // kept
  edited->edit({ExternalChange::Kind::kUpdated, file(R"({"n":-2})")});  // breaks the schema: ignored
  edited->edit({ExternalChange::Kind::kUpdated, file(R"({"n":"${CFG_TEST_NOT_SET_ANYWHERE}"})")});  // cannot expand
  EXPECT_EQ(ok("configuration::get", R"({"id":"bar"})").at("value"), json_of(R"({"n":2})"));
  edited->edit({ExternalChange::Kind::kRegistered,
                ConfigurationEntry{"new-one", "N", "d", nullptr, json_of("5"), std::nullopt}});
  EXPECT_EQ(ok("configuration::get", R"({"id":"new-one"})").at("value"), json_of("5"));
  EXPECT_EQ(error("configuration::set", R"({"id":"new-one","value":6})").code, "SCHEMA_UNAVAILABLE");
  edited->edit({ExternalChange::Kind::kDeleted, file("null")});
  EXPECT_EQ(error("configuration::get", R"({"id":"bar"})").code, "NOT_FOUND");
  std::vector<std::string> seen;
  for (const Call& c : calls) seen.push_back(std::string(c.data.at("event_type").as_string()) + " " + std::string(c.data.at("id").as_string()));
  EXPECT_EQ(seen, (std::vector<std::string>{"configuration:registered bar", "configuration:updated bar",
                                            "configuration:registered new-one", "configuration:deleted bar"}));
}

TEST_F(ConfigurationWorkerTest, TtlDeletesWhatNoTriggerWatches) {
  start(60);
  recorder("h::watch");
  recorder("h::all");
  ASSERT_FALSE(bind("t-all", "h::all", R"({"event_types":["configuration:deleted"]})"));
  ok("configuration::register", registration("eph", R"({"n":1})"));
  ok("configuration::register", registration("kept", R"({"n":1})"));
  ASSERT_FALSE(bind("t-1", "h::watch", R"({"configuration_id":"eph"})"));
  ASSERT_FALSE(bind("t-2", "h::watch", R"({"configuration_id":"eph"})"));
  engine.unregister_trigger("t-1");
  engine.tick(Clock::now() + std::chrono::seconds(120));
  ok("configuration::get", R"({"id":"eph"})");  // one trigger still watches it
  engine.unregister_trigger("t-2");
  engine.tick(Clock::now() + std::chrono::seconds(30));
  ok("configuration::get", R"({"id":"eph"})");  // not yet
  // A trigger that comes back cancels the countdown.
  ASSERT_FALSE(bind("t-3", "h::watch", R"({"configuration_id":"eph"})"));
  engine.tick(Clock::now() + std::chrono::seconds(120));
  ok("configuration::get", R"({"id":"eph"})");
  engine.unregister_trigger("t-3");
  engine.tick(Clock::now() + std::chrono::seconds(61));
  EXPECT_EQ(error("configuration::get", R"({"id":"eph"})").code, "NOT_FOUND");
  ok("configuration::get", R"({"id":"kept"})");  // never watched: never expires
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data.at("event_type"), "configuration:deleted");
  EXPECT_EQ(calls[0].data.at("id"), "eph");
  EXPECT_EQ(calls[0].data.at("new_value"), json::value(nullptr));
  EXPECT_EQ(calls[0].data.at("old_value"), json_of(R"({"n":1})"));
}

TEST_F(ConfigurationWorkerTest, TheConfigBlock) {
  auto error_of = [](std::string_view block) {
    try {
      parse_configuration_config(json_of(block), "/work");
    } catch (const BuiltinConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(parse_configuration_config(nullptr, "/work").directory, "/work/config");
  ConfigurationConfig c = parse_configuration_config(
      json_of(R"({"adapter":{"name":"fs","config":{"directory":"./data/cfg"}},"ttl_seconds":30})"), "/work");
  EXPECT_EQ(c.directory, "/work/data/cfg");
  EXPECT_EQ(c.ttl_seconds, 30u);
  EXPECT_EQ(parse_configuration_config(json_of(R"({"adapter":{"name":"bridge","config":{"bridge_url":"ws://x:1"}}})"), "/work")
                .bridge_url,
            "ws://x:1");
  EXPECT_EQ(parse_configuration_config(json_of(R"({"adapter":{"name":"bridge"}})"), "/work").bridge_url,
            "ws://localhost:49134");
  EXPECT_NE(error_of(R"({"adapter":{"name":"bridge","config":{"bridge_url":"http://x"}}})").find("ws:// or wss://"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"adapter":{"name":"s3"}})").find("adapter.name"), std::string::npos);
  EXPECT_NE(error_of(R"({"adapter":{"name":"fs","config":{"dir":"x"}}})").find("unknown key `dir`"), std::string::npos);
  EXPECT_NE(error_of(R"({"ttl_seconds":-1})").find("ttl_seconds"), std::string::npos);
  EXPECT_NE(error_of(R"({"ttl":1})").find("unknown key"), std::string::npos);
}

}  // namespace
}  // namespace iii
