// What the iii-queue functions and its trigger type share (internal to src/workers/queue/): the
// config, the dispatcher (and through it the store), and the durable:subscriber bindings.
//
// Queue names in the store: a named queue `jobs` is `__fn_queue::jobs`; each distinct
// (topic, function, namespace) of the durable:subscriber bindings owns `<topic>::<function>@<ns>`
// (`@` and `\` escaped with `\`). Every binding of one function on one topic shares that queue
// (replicas compete); a publish puts one copy in each such queue (fan-out across functions).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "store/queue_store.h"
#include "workers/builtin.h"
#include "workers/queue/queue_config.h"
#include "workers/queue/queue_dispatcher.h"

namespace iii {

class Engine;
class InProcessWorker;

inline constexpr const char* kNamedQueuePrefix = "__fn_queue::";
std::string named_queue_store_name(std::string_view queue);
std::string subscriber_queue_store_name(std::string_view topic, std::string_view function_id,
                                        std::string_view ns = "default");

class QueueService {
 public:
  QueueService(Engine& engine, QueueWorkerConfig config, QueueClock clock);

  const QueueWorkerConfig& config() const { return config_; }
  Engine& engine() const { return engine_; }
  const std::shared_ptr<QueueDispatcher>& dispatcher() const { return dispatcher_; }
  // The open store, or null before start() / after stop().
  std::shared_ptr<QueueStore> store() const { return dispatcher_->store(); }

  // Starts the named queues' consumers on `store` (throws QueueStoreError) and ticks the
  // dispatcher on the engine's ticker (due retries, expired leases); close() stops both.
  void open(std::shared_ptr<QueueStore> store);
  void close();

  // --- durable:subscriber bindings (queue_topics.cpp) ---
  std::optional<ErrorBody> activate(const TriggerBinding& binding);
  void deactivate(const TriggerBinding& binding);
  // One entry per subscriber queue of `topic`: its store name and function.
  struct FanOut {
    std::string queue, function_id;
  };
  std::vector<FanOut> fan_out(std::string_view topic) const;
  // Topic → number of active bindings.
  std::map<std::string, size_t> subscriber_counts() const;

  // The store scope an admin call names: a configured (or formerly configured) named queue, or
  // else a topic.
  QueueScope scope_for(const std::string& name) const;
  // Leases what the queues of `scope` may take now (after a redrive).
  void wake(const QueueScope& scope);

 private:
  struct Subscription {
    std::string topic, queue, function_id;
    QueueSettings settings;
    ConsumerTarget target;
  };
  Engine& engine_;
  const QueueWorkerConfig config_;
  std::shared_ptr<QueueDispatcher> dispatcher_;
  WorkerTicker ticker_;
  mutable std::mutex mu_;
  std::map<std::string, Subscription> subscriptions_;  // by binding id
};

// A job runs the function it names: a caller behind RBAC may only enqueue a function it may call.
// The refusal for worker `caller_worker_id` (empty: the engine itself, never refused), or nullopt.
std::optional<ErrorBody> job_target_denied(Engine& engine, std::string_view caller_worker_id,
                                           std::string_view function_id);

// Registers every iii-queue function on `worker` (queue_functions.cpp).
void add_queue_functions(InProcessWorker& worker, const std::shared_ptr<QueueService>& service);

}  // namespace iii
