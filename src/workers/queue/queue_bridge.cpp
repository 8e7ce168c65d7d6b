#include "workers/queue/queue_bridge.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <map>
#include <mutex>
#include <set>

#include "core/json_text.h"
#include "wire/uuid.h"
#include "workers/bridge/remote_engine.h"
#include "workers/queue/queue_worker.h"

namespace iii {
namespace {

namespace json = boost::json;

// Distinct local functions whose jobs may go through the remote's named queues.
constexpr size_t kMaxExposedJobFunctions = 10'000;

// The functions of the embedded queue, run on the remote engine as they are.
constexpr const char* kForwarded[][2] = {
    {"iii::durable::publish", "Publish a message to every durable:subscriber of a topic (on the bridged engine)"},
    {"iii::queue::redrive", "Move every dead-lettered message of a queue back to it (on the bridged engine)"},
    {"iii::queue::redrive_message", "Move one dead-lettered message back to its queue (on the bridged engine)"},
    {"iii::queue::discard_message", "Delete one dead-lettered message (on the bridged engine)"},
    {"engine::queue::list_topics", "Named queues and topics (of the bridged engine)"},
    {"engine::queue::topic_stats", "Depth, consumers and dead-letter depth of a queue or topic (of the bridged engine)"},
    {"engine::queue::dlq_topics", "Queues and topics with dead-lettered messages (of the bridged engine)"},
    {"engine::queue::dlq_messages", "Dead-lettered messages of a queue or topic (of the bridged engine)"},
};

class BridgedQueue : public std::enable_shared_from_this<BridgedQueue> {
 public:
  BridgedQueue(Engine& engine, const std::string& url)
      : engine_(engine),
        remote_(std::make_shared<RemoteEngine>(url, kQueueWorkerName)),
        prefix_("queue::bridge::" + new_uuid() + "::") {}

  RemoteEngine& remote() { return *remote_; }
  void close() { remote_->shutdown(); }

  void forward(const InProcessCall& call, Completion done) {
    remote_->call(call.function_id, call.data, kBridgeCallTimeout, std::move(done));
  }

  // engine::queue::enqueue {queue, function_id, data, …}: see the header.
  void enqueue(const InProcessCall& call, Completion done) {
    std::optional<json::value> request = json_text::parse(call.data);
    json::object* o = request ? request->if_object() : nullptr;
    json::value* target = o ? o->if_contains("function_id") : nullptr;
    if (!target || !target->is_string())
      return done(Outcome::failure(codes::kDeserializationError, "`function_id` is required and must be a string"));
    const std::string function_id(target->get_string());
    if (!call.caller_worker_id.empty())
      if (auto denied = engine_.check_call_access(call.caller_worker_id, function_id)) return done(Outcome{{}, *denied});
    if (engine_.registry().find_function(function_id)) {
      const std::string alias = prefix_ + function_id;
      if (!expose_job_function(function_id, alias))
        return done(Outcome::failure("enqueue_failed", "too many distinct functions enqueued through the bridge (" +
                                                           std::to_string(kMaxExposedJobFunctions) + ")"));
      *target = alias;
    }
    remote_->call("engine::queue::enqueue", json_text::serialize(*request), kBridgeCallTimeout, std::move(done));
  }

  std::optional<ErrorBody> activate(const TriggerBinding& binding) {
    std::optional<json::value> config = json_text::parse(binding.config);
    json::object* o = config ? config->if_object() : nullptr;
    const json::value* topic = o ? o->if_contains("topic") : nullptr;
    if (!topic || !topic->is_string() || topic->get_string().empty())
      return ErrorBody{codes::kTriggerRegistrationFailed, "durable:subscriber needs a non-empty string `topic`", std::nullopt};
    const std::string condition = condition_function_id_of(binding.config);
    o->erase("condition_function_id");  // evaluated here, where the function is
    deactivate(binding);                 // the same id again replaces it
    const std::string handler = prefix_ + "on_message::" + binding.id;
    remote_->expose(handler, [weak = weak_from_this(), binding, condition](const std::string& payload) {
      auto self = weak.lock();
      if (!self) return Outcome::failure(kBridgeError, "iii-queue is shutting down");
      return self->deliver(binding, condition, payload);
    });
    const std::string trigger_id = remote_->register_trigger("durable:subscriber", handler, json_text::serialize(*config));
    std::lock_guard lock(mu_);
    subscriptions_[binding.id] = Subscription{handler, trigger_id};
    return std::nullopt;
  }

  void deactivate(const TriggerBinding& binding) {
    Subscription s;
    {
      std::lock_guard lock(mu_);
      auto it = subscriptions_.find(binding.id);
      if (it == subscriptions_.end()) return;
      s = std::move(it->second);
      subscriptions_.erase(it);
    }
    remote_->unregister_trigger(s.trigger_id);
    remote_->unexpose(s.handler_id);
  }

 private:
  struct Subscription {
    std::string handler_id, trigger_id;
  };

  bool expose_job_function(const std::string& function_id, const std::string& alias) {
    {
      std::lock_guard lock(mu_);
      if (job_functions_.count(function_id)) return true;
      if (job_functions_.size() >= kMaxExposedJobFunctions) return false;
      job_functions_.insert(function_id);
    }
    remote_->expose(alias, function_id, engine_);
    return true;
  }

  // One message of the remote's subscriber queue: the binding fired here. An error (the handler's
  // or its condition's) makes the remote retry it, as its own subscribers' would.
  Outcome deliver(const TriggerBinding& binding, const std::string& condition, const std::string& payload) {
    return RemoteEngine::await_local(
        engine_,
        [&](Completion done) {
          engine_.fire(binding, condition, payload, [done = std::move(done)](FireStatus status, Outcome o) {
            done(status == FireStatus::kSkipped ? Outcome::success("null") : std::move(o));
          });
        },
        binding.function_id);
  }

  Engine& engine_;
  const std::shared_ptr<RemoteEngine> remote_;
  const std::string prefix_;
  std::mutex mu_;
  std::set<std::string> job_functions_;
  std::map<std::string, Subscription> subscriptions_;  // by binding id
};

class BridgedQueueWorker final : public BuiltinWorker {
 public:
  BridgedQueueWorker(Engine& engine, const std::string& url)
      : url_(url),
        queue_(std::make_shared<BridgedQueue>(engine, url)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kQueueWorkerName)) {
    std::weak_ptr<BridgedQueue> weak = queue_;
    auto gone = [](Completion& done) { done(Outcome::failure(kBridgeError, "iii-queue is shutting down")); };
    endpoint_->add_function(
        FunctionSpec{"engine::queue::enqueue", "Durably enqueue a job for a named queue (on the bridged engine)", {}, {}, {}},
        AsyncFunctionHandler([weak, gone](const InProcessCall& call, Completion done) {
          if (auto q = weak.lock()) return q->enqueue(call, std::move(done));
          gone(done);
        }));
    for (const auto& [id, description] : kForwarded)
      endpoint_->add_function(FunctionSpec{id, description, {}, {}, {}},
                              AsyncFunctionHandler([weak, gone](const InProcessCall& call, Completion done) {
                                if (auto q = weak.lock()) return q->forward(call, std::move(done));
                                gone(done);
                              }));
    endpoint_->add_trigger_type(
        TriggerTypeSpec{"durable:subscriber", "Durable topic subscriber (on the bridged engine)", {}, {}},
        weakly_served(queue_, kQueueWorkerName));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }
  void start() override { spdlog::info("iii-queue: bridge to {} (the queues are that engine's)", url_); }
  void stop() override { queue_->close(); }

 private:
  const std::string url_;
  const std::shared_ptr<BridgedQueue> queue_;
  const std::shared_ptr<InProcessWorker> endpoint_;
};

}  // namespace

std::unique_ptr<BuiltinWorker> make_bridged_queue_worker(Engine& engine, const std::string& bridge_url) {
  return std::make_unique<BridgedQueueWorker>(engine, bridge_url);
}

}  // namespace iii
