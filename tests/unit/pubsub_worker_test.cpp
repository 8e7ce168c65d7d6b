// The iii-pubsub built-in driven through a real Engine: its config block, `publish` with its
// errors, and `subscribe` bindings — fan-out, unsubscribing one binding keeping the others (the
// upstream bug of docs/builtins.md §14.3 not copied), failing subscribers, conditions, replacement.
#include "workers/pubsub/pubsub_config.h"
#include "workers/pubsub/pubsub_worker.h"
#include "workers/pubsub/pubsub_topics.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>

#include "engine/engine.h"
#include "recording_endpoint.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

json::value parse(std::string_view text) {
  auto v = json_text::parse(text.empty() ? "null" : text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

std::string config_error(std::string_view block) {
  try {
    parse_pubsub_config(parse(block));
  } catch (const BuiltinConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(PubSubConfig, AcceptsLocalAndRedisAndRejectsTheRest) {
  EXPECT_EQ(config_error("null"), "(accepted)");
  EXPECT_EQ(config_error("{}"), "(accepted)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"local"}})"), "(accepted)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"local","config":{}}})"), "(accepted)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://localhost:6379"}}})"), "(accepted)");
  EXPECT_EQ(parse_pubsub_config(parse(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://h:7/1"}}})")).redis_url,
            "redis://h:7/1");
  EXPECT_EQ(parse_pubsub_config(parse(R"({"adapter":{"name":"local"}})")).redis_url, "");
  EXPECT_NE(config_error(R"({"adapter":{"name":"redis","config":{"redis_url":7}}})").find("adapter.config.redis_url"),
            std::string::npos);
  EXPECT_EQ(config_error(R"({"adapter":{"name":"nats"}})"),
            "iii-pubsub: `adapter.name` `nats` is not a pubsub adapter (supported: local, redis)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"local","config":{"x":1}}})"),
            "iii-pubsub: `adapter.config.x` is not an option of the `local` adapter (it takes none)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"local","extra":1}})"),
            "iii-pubsub adapter: unknown key `extra` (known keys: name, config)");
  EXPECT_EQ(config_error(R"({"topics":[]})"), "iii-pubsub: unknown key `topics` (known keys: adapter)");
  EXPECT_EQ(config_error(R"({"adapter":{}})"), "iii-pubsub: `adapter.name` is required (supported: local, redis)");
  EXPECT_EQ(config_error(R"({"adapter":"local"})"), "iii-pubsub: `adapter` must be a mapping {name, config}, got string");
}

TEST(PubSubConfig, Descriptor) {
  BuiltinDescriptor d = pubsub_builtin();
  EXPECT_EQ(d.name, "iii-pubsub");
  EXPECT_EQ(d.aliases, std::vector<std::string>{"pubsub"});
  Engine engine;
  BuiltinContext context{engine, "/tmp"};
  EXPECT_THROW(d.factory(context, parse(R"({"adapter":{"name":"kafka"}})")), BuiltinConfigError);
}

// What a shared adapter subscribes to: told when a topic gets its first subscriber or loses its last.
TEST(PubSubTopics, TellsTheListenerWhenATopicGainsItsFirstOrLosesItsLastSubscriber) {
  Engine engine;
  PubSubTopics topics(engine);
  std::vector<std::string> events;
  topics.set_topic_listener([&](const std::string& t, bool has) { events.push_back((has ? "+" : "-") + t); });
  auto bind = [](const std::string& id, const std::string& topic) {
    return TriggerBinding{id, "subscribe", "f::" + id, R"({"topic":")" + topic + R"("})", "", ""};
  };
  EXPECT_EQ(topics.activate(bind("1", "a")), std::nullopt);
  EXPECT_EQ(topics.activate(bind("2", "a")), std::nullopt);  // a already has one
  EXPECT_EQ(topics.activate(bind("3", "b")), std::nullopt);
  EXPECT_EQ(topics.activate(bind("3", "a")), std::nullopt);  // 3 moves to a: b is left empty
  topics.deactivate(bind("1", "a"));
  topics.deactivate(bind("2", "a"));
  topics.deactivate(bind("3", "a"));
  EXPECT_EQ(events, (std::vector<std::string>{"+a", "+b", "-b", "-a"}));
}

class PubSubWorkerTest : public ::testing::Test {
 protected:
  PubSubWorkerTest() {
    BuiltinContext context{engine, "/tmp"};
    worker = pubsub_builtin().factory(context, parse("null"));
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
    auto w = std::make_shared<InProcessWorker>(engine, "subscribers");
    for (const char* id : {"sub::a", "sub::b", "sub::c"}) {
      w->add_function(FunctionSpec{id, "", {}, {}, {}}, SyncFunctionHandler([this, id = std::string(id)](const InProcessCall& c) {
                        calls.push_back({id, parse(c.data), c.metadata});
                        return Outcome::success("null");
                      }));
    }
    w->add_function(FunctionSpec{"sub::throws", "", {}, {}, {}}, SyncFunctionHandler([this](const InProcessCall& c) {
                      calls.push_back({"sub::throws", parse(c.data), c.metadata});
                      return Outcome::failure("invocation_failed", "subscriber blew up");
                    }));
    w->add_function(FunctionSpec{"sub::only_big", "", {}, {}, {}}, SyncFunctionHandler([](const InProcessCall& c) {
                      return Outcome::success(parse(c.data).at("n").as_int64() > 10 ? "true" : "false");
                    }));
    engine.add_in_process_worker(w);
  }
  ~PubSubWorkerTest() override { worker->stop(); }

  std::optional<ErrorBody> subscribe(const std::string& id, const std::string& function_id, const std::string& config,
                                     const std::string& metadata = "") {
    std::optional<ErrorBody> out;
    engine.register_trigger(TriggerBinding{id, "subscribe", function_id, config, metadata, ""},
                            [&](std::optional<ErrorBody> e) { out = std::move(e); });
    return out;
  }
  Outcome publish(const std::string& data) {
    std::optional<Outcome> out;
    engine.invoke("publish", data, {}, [&](Outcome o) { out = std::move(o); });
    EXPECT_TRUE(out) << "publish did not answer synchronously";
    return out ? *out : Outcome::failure("no_answer", "");
  }
  std::vector<std::string> receivers() const {
    std::vector<std::string> out;
    for (const auto& c : calls) out.push_back(c.function_id);
    std::sort(out.begin(), out.end());
    return out;
  }

  struct Call {
    std::string function_id;
    json::value data;
    std::string metadata;
  };
  Engine engine{EngineOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(500), 1000}};
  std::unique_ptr<BuiltinWorker> worker;
  std::vector<Call> calls;
};

TEST_F(PubSubWorkerTest, PublishFansOutTheRawDataToEverySubscriberOfTheTopic) {
  ASSERT_EQ(subscribe("t1", "sub::a", R"({"topic":"orders"})", R"({"m":1})"), std::nullopt);
  ASSERT_EQ(subscribe("t2", "sub::b", R"({"topic":"orders"})"), std::nullopt);
  ASSERT_EQ(subscribe("t3", "sub::c", R"({"topic":"users"})"), std::nullopt);
  Outcome o = publish(R"({"topic":"orders","data":{"id":7,"price":1.5,"tags":["x"]}})");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.result, "null");
  EXPECT_EQ(receivers(), (std::vector<std::string>{"sub::a", "sub::b"}));
  for (const auto& c : calls) {
    EXPECT_EQ(c.data, parse(R"({"id":7,"price":1.5,"tags":["x"]})"));  // no envelope
    EXPECT_EQ(c.metadata, "");                                         // pub/sub does not forward metadata
  }
  calls.clear();
  ASSERT_TRUE(publish(R"({"topic":"users","data":"hello"})").ok());
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data, json::value("hello"));
  calls.clear();
  ASSERT_TRUE(publish(R"({"topic":"users"})").ok());  // absent data is null
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].data.is_null());
}

TEST_F(PubSubWorkerTest, PublishWithoutSubscribersIsANoOp) {
  Outcome o = publish(R"({"topic":"nobody-listens","data":1})");
  EXPECT_TRUE(o.ok());
  EXPECT_TRUE(calls.empty());
}

TEST_F(PubSubWorkerTest, PublishInputErrors) {
  auto error = [&](const std::string& data) {
    Outcome o = publish(data);
    EXPECT_FALSE(o.ok()) << data;
    return o.error.value_or(ErrorBody{});
  };
  ErrorBody e = error(R"({"topic":"","data":1})");
  EXPECT_EQ(e.code, "topic_not_set");
  EXPECT_EQ(e.message, "Topic is not set");
  e = error(R"({"data":1})");
  EXPECT_EQ(e.code, "deserialization_error");
  EXPECT_EQ(e.message, "Failed to deserialize input for publish: missing field `topic`");
  e = error(R"({"topic":5})");
  EXPECT_EQ(e.message, "Failed to deserialize input for publish: `topic`: invalid type: number, expected a string");
  e = error("[1,2]");
  EXPECT_EQ(e.message, "Failed to deserialize input for publish: invalid type: array, expected an object {topic, data}");
  e = error("null");
  EXPECT_EQ(e.code, "deserialization_error");
}

TEST_F(PubSubWorkerTest, UnsubscribingOneBindingKeepsTheTopicsOtherSubscribers) {
  ASSERT_EQ(subscribe("t1", "sub::a", R"({"topic":"orders"})"), std::nullopt);
  ASSERT_EQ(subscribe("t2", "sub::b", R"({"topic":"orders"})"), std::nullopt);
  ASSERT_EQ(subscribe("t3", "sub::c", R"({"topic":"orders"})"), std::nullopt);
  EXPECT_TRUE(engine.unregister_trigger("t1"));
  ASSERT_TRUE(publish(R"({"topic":"orders","data":1})").ok());
  EXPECT_EQ(receivers(), (std::vector<std::string>{"sub::b", "sub::c"}));
  EXPECT_TRUE(engine.unregister_trigger("t2"));
  EXPECT_TRUE(engine.unregister_trigger("t3"));
  calls.clear();
  ASSERT_TRUE(publish(R"({"topic":"orders","data":2})").ok());
  EXPECT_TRUE(calls.empty());
}

TEST_F(PubSubWorkerTest, AFailingSubscriberDoesNotAffectTheOthers) {
  ASSERT_EQ(subscribe("a", "sub::a", R"({"topic":"t"})"), std::nullopt);
  ASSERT_EQ(subscribe("boom", "sub::throws", R"({"topic":"t"})"), std::nullopt);
  ASSERT_EQ(subscribe("gone", "sub::missing", R"({"topic":"t"})"), std::nullopt);  // no such function
  ASSERT_EQ(subscribe("b", "sub::b", R"({"topic":"t"})"), std::nullopt);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(publish(R"({"topic":"t","data":{"i":1}})").ok());
  auto r = receivers();
  EXPECT_EQ(std::count(r.begin(), r.end(), "sub::a"), 3);
  EXPECT_EQ(std::count(r.begin(), r.end(), "sub::b"), 3);
  EXPECT_EQ(std::count(r.begin(), r.end(), "sub::throws"), 3);
}

TEST_F(PubSubWorkerTest, ConditionFunctionIsApplied) {
  ASSERT_EQ(subscribe("big", "sub::a", R"({"topic":"n","condition_function_id":"sub::only_big"})"), std::nullopt);
  ASSERT_TRUE(publish(R"({"topic":"n","data":{"n":3}})").ok());
  ASSERT_TRUE(publish(R"({"topic":"n","data":{"n":30}})").ok());
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data, parse(R"({"n":30})"));
}

TEST_F(PubSubWorkerTest, SameIdReplacesItsSubscriptionAndMayMoveTopic) {
  ASSERT_EQ(subscribe("s", "sub::a", R"({"topic":"one"})"), std::nullopt);
  ASSERT_EQ(subscribe("keep", "sub::b", R"({"topic":"one"})"), std::nullopt);
  ASSERT_EQ(subscribe("s", "sub::c", R"({"topic":"two"})"), std::nullopt);
  ASSERT_TRUE(publish(R"({"topic":"one","data":1})").ok());
  EXPECT_EQ(receivers(), (std::vector<std::string>{"sub::b"}));
  calls.clear();
  ASSERT_TRUE(publish(R"({"topic":"two","data":1})").ok());
  EXPECT_EQ(receivers(), (std::vector<std::string>{"sub::c"}));
}

TEST_F(PubSubWorkerTest, BadSubscribeConfigsAreRejected) {
  auto rejected = [&](const std::string& config) {
    std::optional<ErrorBody> e = subscribe("bad", "sub::a", config);
    EXPECT_TRUE(e) << config;
    if (!e) return std::string();
    EXPECT_EQ(e->code, "trigger_registration_failed");
    return e->message;
  };
  EXPECT_EQ(rejected("{}"), "Invalid subscribe trigger config: `topic` is required");
  EXPECT_EQ(rejected("null"), "Invalid subscribe trigger config: `topic` is required");
  EXPECT_EQ(rejected(R"({"topic":""})"), "Invalid subscribe trigger config: `topic` must not be empty");
  EXPECT_EQ(rejected(R"({"topic":["a"]})"), "Invalid subscribe trigger config: `topic` must be a string, got array");
  EXPECT_EQ(rejected(R"({"topic":"t","condition_function_id":false})"),
            "Invalid subscribe trigger config: `condition_function_id` must be a string, got boolean");
  EXPECT_EQ(rejected("7"), "Invalid subscribe trigger config: expected an object, got number");
  EXPECT_FALSE(engine.registry().find_trigger("bad"));
}

TEST_F(PubSubWorkerTest, RemoteSubscribersAllReceiveAndASilentOneBlocksNobody) {
  auto r1 = std::make_shared<testing::RecordingEndpoint>();
  auto r2 = std::make_shared<testing::RecordingEndpoint>();
  for (auto& r : {r1, r2}) {
    engine.attach(r, "127.0.0.1");
    const std::string fn = "remote::" + r->worker_id();
    engine.on_frame(r, R"({"type":"registerfunction","id":")" + fn + R"("})");
    engine.on_frame(r, R"({"type":"registertrigger","id":")" + r->worker_id() +
                           R"(","trigger_type":"subscribe","function_id":")" + fn + R"(","config":{"topic":"news"}})");
  }
  ASSERT_TRUE(publish(R"({"topic":"news","data":{"n":1}})").ok());
  ASSERT_TRUE(publish(R"({"topic":"news","data":{"n":2}})").ok());  // nobody answered the first yet
  for (auto& r : {r1, r2}) {
    auto invocations = r->of_type("invokefunction");
    ASSERT_EQ(invocations.size(), 2u);
    EXPECT_EQ(invocations[1].at("data"), parse(R"({"n":2})"));
  }
  // One subscriber disconnects: only its subscription goes.
  engine.detach(r1);
  r2->clear();
  ASSERT_TRUE(publish(R"({"topic":"news","data":{"n":3}})").ok());
  EXPECT_EQ(r2->of_type("invokefunction").size(), 1u);
}

}  // namespace
}  // namespace iii
