#include "workers/pubsub/pubsub_worker.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "store/redis_subscriber.h"

#include "workers/pubsub/pubsub_config.h"
#include "workers/pubsub/pubsub_topics.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","required":["topic"],"properties":{"topic":{"type":"string"},)"
    R"("condition_function_id":{"type":"string"}}})";

// How long activating a binding waits for Redis to confirm a new channel subscription, so that a
// publish right after the registration reaches it.
constexpr auto kSubscribeWait = std::chrono::milliseconds(1000);

class PubSubWorker final : public BuiltinWorker {
 public:
  PubSubWorker(Engine& engine, const PubSubConfig& config)
      : topics_(std::make_shared<PubSubTopics>(engine)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kPubSubWorkerName)) {
    RemotePublish remote;
    if (!config.redis_url.empty()) {
      const RedisEndpoint redis = RedisEndpoint::parse(config.redis_url);
      // Messages from Redis go to this engine's subscribers (every publish arrives this way,
      // this engine's own included, so each subscriber gets it once).
      subscriber_ = std::make_shared<RedisSubscriber>(
          redis, [weak = std::weak_ptr<PubSubTopics>(topics_)](std::string_view channel, std::string_view message) {
            if (auto t = weak.lock()) t->publish(channel, std::string(message));
          });
      topics_->set_topic_listener([weak = std::weak_ptr<RedisSubscriber>(subscriber_)](const std::string& topic, bool has) {
        auto s = weak.lock();
        if (!s) return;
        if (!has) return s->unsubscribe(topic);
        s->subscribe(topic);
        if (!s->wait_subscribed(topic, kSubscribeWait))
          spdlog::warn("iii-pubsub: redis did not confirm the subscription to {} yet", topic);
      });
      remote = [pool = std::make_shared<RedisPool>(redis, 4)](const std::string& topic, const std::string& data) {
        const RedisReply r = pool->run({"PUBLISH", topic, data});
        if (r.is_error()) throw RedisError("redis " + pool->endpoint().address() + ": " + r.str);
      };
    }
    add_pubsub_functions(*endpoint_, topics_, std::move(remote));
    endpoint_->add_trigger_type(TriggerTypeSpec{"subscribe", "Subscribe to a topic", kTriggerConfigFormat, {}},
                                weakly_served(topics_, kPubSubWorkerName));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

 private:
  std::shared_ptr<PubSubTopics> topics_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::shared_ptr<RedisSubscriber> subscriber_;  // redis adapter only
};

}  // namespace

BuiltinDescriptor pubsub_builtin() {
  return {kPubSubWorkerName, {"pubsub"},
          [](BuiltinContext& context, const json::value& config) -> std::unique_ptr<BuiltinWorker> {
            return std::make_unique<PubSubWorker>(context.engine, parse_pubsub_config(config));
          }};
}

}  // namespace iii
