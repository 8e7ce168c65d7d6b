#include "workers/pubsub/pubsub_worker.h"

#include <boost/json.hpp>

#include "workers/pubsub/pubsub_config.h"
#include "workers/pubsub/pubsub_topics.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","required":["topic"],"properties":{"topic":{"type":"string"},)"
    R"("condition_function_id":{"type":"string"}}})";

class PubSubWorker final : public BuiltinWorker {
 public:
  explicit PubSubWorker(Engine& engine)
      : topics_(std::make_shared<PubSubTopics>(engine)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kPubSubWorkerName)) {
    add_pubsub_functions(*endpoint_, topics_);
    endpoint_->add_trigger_type(TriggerTypeSpec{"subscribe", "Subscribe to a topic", kTriggerConfigFormat, {}},
                                weakly_served(topics_, kPubSubWorkerName));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

 private:
  std::shared_ptr<PubSubTopics> topics_;
  std::shared_ptr<InProcessWorker> endpoint_;
};

}  // namespace

BuiltinDescriptor pubsub_builtin() {
  return {kPubSubWorkerName, {"pubsub"},
          [](BuiltinContext& context, const json::value& config) -> std::unique_ptr<BuiltinWorker> {
            parse_pubsub_config(config);
            return std::make_unique<PubSubWorker>(context.engine);
          }};
}

}  // namespace iii
