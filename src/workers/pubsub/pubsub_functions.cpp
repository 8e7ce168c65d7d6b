// The functions of iii-pubsub: `publish`.
#include <boost/json.hpp>

#include "core/json_text.h"
#include "engine/in_process_worker.h"
#include "workers/pubsub/pubsub_topics.h"
#include "workers/pubsub/pubsub_worker.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr const char* kPublishRequestFormat =
    R"({"type":"object","required":["topic","data"],"properties":{)"
    R"("topic":{"type":"string","description":"Topic to publish to. Subscribers registered for this topic receive the event."},)"
    R"("data":{"description":"JSON payload delivered to each subscriber."}}})";
Outcome input_error(const std::string& why) {
  return Outcome::failure(codes::kDeserializationError, "Failed to deserialize input for publish: " + why);
}

// publish: answers the caller, then fans out (or hands the message to every engine through
// `remote`, which delivers it here too).
void publish(PubSubTopics& topics, const RemotePublish& remote, const InProcessCall& call, const Completion& done) {
  std::string error;
  std::optional<json::value> input = json_text::parse(call.data, &error);
  if (!input) return done(input_error("not valid JSON: " + error));
  if (!input->is_object())
    return done(input_error(std::string("invalid type: ") + json_text::type_name(*input) +
                            ", expected an object {topic, data}"));
  const json::object& o = input->get_object();
  const json::value* topic = o.if_contains("topic");
  if (!topic || topic->is_null()) return done(input_error("missing field `topic`"));
  if (!topic->is_string())
    return done(
        input_error(std::string("`topic`: invalid type: ") + json_text::type_name(*topic) + ", expected a string"));
  if (topic->get_string().empty()) return done(Outcome::failure("topic_not_set", "Topic is not set"));
  const json::value* data = o.if_contains("data");
  std::string payload = data ? json_text::serialize(*data) : std::string("null");
  const std::string name(topic->get_string());
  if (remote) {
    try {
      remote(name, payload);
    } catch (const std::exception& e) {
      return done(Outcome::failure("publish_failed", std::string("publish to ") + name + " failed: " + e.what()));
    }
    return done(Outcome::success("null"));
  }
  done(Outcome::success("null"));
  topics.publish(name, payload, call.traceparent);
}

}  // namespace

void add_pubsub_functions(InProcessWorker& worker, const std::shared_ptr<PubSubTopics>& topics, RemotePublish remote) {
  std::weak_ptr<PubSubTopics> weak = topics;
  worker.add_function(FunctionSpec{"publish", "Publishes an event", kPublishRequestFormat, R"({"type":"null"})", {}},
                      AsyncFunctionHandler([weak, remote = std::move(remote)](const InProcessCall& call, Completion done) {
                        if (auto t = weak.lock()) return publish(*t, remote, call, done);
                        done(Outcome::failure("pubsub_unavailable", "iii-pubsub is shutting down"));
                      }));
}

}  // namespace iii
