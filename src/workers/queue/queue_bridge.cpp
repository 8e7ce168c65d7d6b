#include "workers/queue/queue_bridge.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "core/json_text.h"
#include "workers/bridge/remote_engine.h"
#include "workers/queue/queue_service.h"
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

// The part of the names this engine exposes on the remote that says which engine it is: the same
// after a restart (so that jobs and subscriber queues left there while it was away are delivered
// when it is back), different for two engines on one host (their directories differ).
std::string stable_tag(const std::filesystem::path& working_dir, const std::string& instance_id) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a: the same value in every build
  for (char c : std::string(host) + ":" + working_dir.string() + ":" + instance_id) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

class BridgedQueue : public std::enable_shared_from_this<BridgedQueue> {
 public:
  BridgedQueue(Engine& engine, const std::string& url, const std::string& tag)
      : engine_(engine),
        remote_(std::make_shared<RemoteEngine>(url, kQueueWorkerName)),
        prefix_("queue::bridge::" + tag + "::") {}

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
    if (auto denied = job_target_denied(engine_, call.caller_worker_id, function_id)) return done(Outcome{{}, *denied});
    if (engine_.registry().find_function(function_id)) {
      const std::string alias = prefix_ + function_id;
      if (!expose_job_function(function_id, alias))
        return done(Outcome::failure("enqueue_failed", "too many distinct functions enqueued through the bridge (" +
                                                           std::to_string(kMaxExposedJobFunctions) + ")"));
      *target = alias;
    }
    remote_->call("engine::queue::enqueue", json_text::serialize(*request), kBridgeCallTimeout, std::move(done));
  }

  // Every binding here of one function to one topic shares one subscriber there (its queue is
  // keyed by topic and function, as the embedded queue's is): replicas compete for a message
  // instead of each getting it.
  std::optional<ErrorBody> activate(const TriggerBinding& binding) {
    std::optional<json::value> config = json_text::parse(binding.config);
    json::object* o = config ? config->if_object() : nullptr;
    const json::value* topic = o ? o->if_contains("topic") : nullptr;
    if (!topic || !topic->is_string() || topic->get_string().empty())
      return ErrorBody{codes::kTriggerRegistrationFailed, "durable:subscriber needs a non-empty string `topic`", std::nullopt};
    const std::string key = std::string(topic->get_string()) + '\n' + binding.function_id;
    o->erase("condition_function_id");  // evaluated here, where the function is
    deactivate(binding);                 // the same id again replaces it
    std::lock_guard lock(mu_);
    Subscription& sub = subscriptions_[key];
    sub.bindings[binding.id] = binding;
    binding_keys_[binding.id] = key;
    if (!sub.handler_id.empty()) return std::nullopt;
    sub.handler_id = prefix_ + "on_message::" + std::string(topic->get_string()) + "::" + binding.function_id;
    remote_->expose(sub.handler_id, [weak = weak_from_this(), key](const std::string& payload) {
      auto self = weak.lock();
      if (!self) return Outcome::failure(kBridgeError, "iii-queue is shutting down");
      return self->deliver(key, payload);
    });
    sub.trigger_id = remote_->register_trigger("durable:subscriber", sub.handler_id, json_text::serialize(*config));
    return std::nullopt;
  }

  void deactivate(const TriggerBinding& binding) {
    Subscription gone;
    {
      std::lock_guard lock(mu_);
      auto k = binding_keys_.find(binding.id);
      if (k == binding_keys_.end()) return;
      auto it = subscriptions_.find(k->second);
      binding_keys_.erase(k);
      if (it == subscriptions_.end()) return;
      it->second.bindings.erase(binding.id);
      if (!it->second.bindings.empty()) return;
      gone = std::move(it->second);
      subscriptions_.erase(it);
    }
    remote_->unregister_trigger(gone.trigger_id);
    remote_->unexpose(gone.handler_id);
  }

 private:
  struct Subscription {
    std::string handler_id, trigger_id;
    std::map<std::string, TriggerBinding> bindings;  // the bindings here it serves, by id
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

  // One message of the remote's subscriber queue: one of the bindings it serves fired here (its
  // condition evaluated here). An error (the handler's or its condition's) makes the remote retry
  // it, as its own subscribers' would.
  Outcome deliver(const std::string& key, const std::string& payload) {
    std::optional<TriggerBinding> binding;
    {
      std::lock_guard lock(mu_);
      if (auto it = subscriptions_.find(key); it != subscriptions_.end() && !it->second.bindings.empty())
        binding = it->second.bindings.begin()->second;
    }
    if (!binding) return Outcome::failure(codes::kFunctionNotFound, "no subscriber here any more");
    const std::string condition = condition_function_id_of(binding->config);
    return RemoteEngine::await_local(
        engine_,
        [&](Completion done) {
          engine_.fire(*binding, condition, payload, [done = std::move(done)](FireStatus status, Outcome o) {
            done(status == FireStatus::kSkipped ? Outcome::success("null") : std::move(o));
          });
        },
        binding->function_id);
  }

  Engine& engine_;
  const std::shared_ptr<RemoteEngine> remote_;
  const std::string prefix_;
  std::mutex mu_;
  std::set<std::string> job_functions_;
  std::map<std::string, Subscription> subscriptions_;  // by topic + '\n' + function id
  std::map<std::string, std::string> binding_keys_;    // binding id → its subscription's key
};

class BridgedQueueWorker final : public BuiltinWorker {
 public:
  BridgedQueueWorker(Engine& engine, const std::string& url, const std::string& tag)
      : url_(url),
        queue_(std::make_shared<BridgedQueue>(engine, url, tag)),
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

std::unique_ptr<BuiltinWorker> make_bridged_queue_worker(Engine& engine, const std::string& bridge_url,
                                                        const std::filesystem::path& working_dir,
                                                        const std::string& instance_id) {
  return std::make_unique<BridgedQueueWorker>(engine, bridge_url, stable_tag(working_dir, instance_id));
}

}  // namespace iii
