#include "workers/pubsub/pubsub_worker.h"

#include <boost/json.hpp>

#include "workers/pubsub/pubsub_topics.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr const char* kPublishRequestFormat =
    R"({"type":"object","required":["topic","data"],"properties":{)"
    R"("topic":{"type":"string","description":"Topic to publish to. Subscribers registered for this topic receive the event."},)"
    R"("data":{"description":"JSON payload delivered to each subscriber."}}})";
constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","required":["topic"],"properties":{"topic":{"type":"string"},)"
    R"("condition_function_id":{"type":"string"}}})";

[[noreturn]] void bad_config(const std::string& key, const std::string& why) {
  throw BuiltinConfigError(std::string(kPubSubWorkerName) + ": `" + key + "` " + why);
}

Outcome input_error(const std::string& why) {
  return Outcome::failure(codes::kDeserializationError, "Failed to deserialize input for publish: " + why);
}

// publish: answers the caller, then fans out.
void publish(PubSubTopics& topics, const InProcessCall& call, const Completion& done) {
  std::string error;
  std::optional<json::value> input = json_text::parse(call.data, &error);
  if (!input) return done(input_error("not valid JSON: " + error));
  if (!input->is_object())
    return done(input_error(std::string("invalid type: ") + json_text::type_name(*input) + ", expected an object {topic, data}"));
  const json::object& o = input->get_object();
  const json::value* topic = o.if_contains("topic");
  if (!topic || topic->is_null()) return done(input_error("missing field `topic`"));
  if (!topic->is_string())
    return done(input_error(std::string("`topic`: invalid type: ") + json_text::type_name(*topic) + ", expected a string"));
  if (topic->get_string().empty()) return done(Outcome::failure("topic_not_set", "Topic is not set"));
  const json::value* data = o.if_contains("data");
  std::string payload = data ? json_text::serialize(*data) : std::string("null");
  const std::string name(topic->get_string());
  done(Outcome::success("null"));
  topics.publish(name, payload);
}

class PubSubWorker final : public BuiltinWorker {
 public:
  explicit PubSubWorker(Engine& engine)
      : topics_(std::make_shared<PubSubTopics>(engine)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kPubSubWorkerName)) {
    std::weak_ptr<PubSubTopics> weak = topics_;
    endpoint_->add_function(FunctionSpec{"publish", "Publishes an event", kPublishRequestFormat, R"({"type":"null"})", {}},
                            AsyncFunctionHandler([weak](const InProcessCall& call, Completion done) {
                              if (auto t = weak.lock()) return publish(*t, call, done);
                              done(Outcome::failure("pubsub_unavailable", "iii-pubsub is shutting down"));
                            }));
    endpoint_->add_trigger_type(TriggerTypeSpec{"subscribe", "Subscribe to a topic", kTriggerConfigFormat, {}},
                                weakly_served(topics_, kPubSubWorkerName));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

 private:
  std::shared_ptr<PubSubTopics> topics_;
  std::shared_ptr<InProcessWorker> endpoint_;
};

}  // namespace

void parse_pubsub_config(const json::value& config) {
  require_known_keys(config, kPubSubWorkerName, {"adapter"});
  if (config.is_null()) return;
  const json::value* adapter = config.get_object().if_contains("adapter");
  if (!adapter || adapter->is_null()) return;
  if (!adapter->is_object())
    bad_config("adapter", std::string("must be a mapping {name, config}, got ") + json_text::type_name(*adapter));
  require_known_keys(*adapter, "iii-pubsub adapter", {"name", "config"});
  const json::value* name = adapter->get_object().if_contains("name");
  if (!name || name->is_null()) bad_config("adapter.name", "is required (supported: local)");
  if (!name->is_string()) bad_config("adapter.name", std::string("must be a string, got ") + json_text::type_name(*name));
  const std::string adapter_name(name->get_string());
  if (adapter_name == "local") {
    const json::value* c = adapter->get_object().if_contains("config");
    if (!c || c->is_null()) return;
    if (!c->is_object()) bad_config("adapter.config", std::string("must be a mapping, got ") + json_text::type_name(*c));
    if (!c->get_object().empty())
      bad_config("adapter.config." + std::string(c->get_object().begin()->key()),
                 "is not an option of the `local` adapter (it takes none)");
    return;
  }
  if (adapter_name == "redis")
    bad_config("adapter.name", "`redis` (cross-instance delivery) is not supported yet (supported: local)");
  bad_config("adapter.name", "`" + adapter_name + "` is not a pubsub adapter (supported: local; redis is not supported yet)");
}

BuiltinDescriptor pubsub_builtin() {
  return BuiltinDescriptor{
      kPubSubWorkerName,
      {"pubsub"},
      [](BuiltinContext& context, const json::value& config) -> std::unique_ptr<BuiltinWorker> {
        parse_pubsub_config(config);
        return std::make_unique<PubSubWorker>(context.engine);
      },
  };
}

}  // namespace iii
