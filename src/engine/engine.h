// The engine core: routes every invocation to the worker that provides the function, and keeps
// the registry of workers, functions, trigger types and bindings consistent as workers come and
// go (docs/protocol.md §1–§6). It owns no sockets and no threads: net/ feeds it frames and a periodic
// tick(); built-in workers talk to it through InProcessWorker.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "core/invocation_table.h"
#include "core/message.h"
#include "core/registry.h"
#include "core/string_map.h"

namespace iii {

class InProcessWorker;
struct TriggerTypeSpec;

struct EngineOptions {
  // Engine-side deadline for every routed call; the caller then gets a `timeout` error.
  std::chrono::milliseconds invocation_timeout{30000};
  // How long engine::register_trigger waits for a remote provider's acknowledgement.
  std::chrono::milliseconds trigger_ack_timeout{10000};
  // Bound on invocations in flight; beyond it calls fail at once with `too_many_invocations`.
  size_t max_pending_invocations = 1'000'000;
};

// Outcome of firing a binding of a built-in trigger type.
enum class FireStatus { kRan, kSkipped, kConditionFailed };
using FireCompletion = std::function<void(FireStatus, Outcome)>;

// "worker_connected" | "worker_disconnected" | "worker_metadata_updated"
using WorkerEventListener = std::function<void(std::string_view event, std::string_view worker_id)>;

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();

  Registry& registry() { return registry_; }
  const InvocationTable& invocations() const { return invocations_; }
  const EngineOptions& options() const { return options_; }

  // --- remote connections (called by net/) ---
  // A new worker socket: registers it, sends workerregistered, announces worker_connected.
  void attach(const std::shared_ptr<Endpoint>& endpoint, std::string ip_address);
  // One text frame from `from`, processed to completion. Bad input is logged and dropped.
  void on_frame(const std::shared_ptr<Endpoint>& from, std::string_view frame);
  // Tears the worker down (docs/protocol.md §1.9). Idempotent.
  void detach(const std::shared_ptr<Endpoint>& endpoint);

  // --- built-in workers ---
  void add_in_process_worker(const std::shared_ptr<InProcessWorker>& worker);
  std::shared_ptr<InProcessWorker> in_process_worker(std::string_view name) const;
  // Registers one trigger type of an attached in-process worker and activates its parked bindings.
  void register_in_process_trigger_type(const std::shared_ptr<InProcessWorker>& worker, const TriggerTypeSpec& spec);

  // --- invocations ---
  // An engine-originated call (no _caller_worker_id). `done` may be empty (nobody waits).
  void invoke(std::string_view function_id, std::string_view data, std::string_view metadata, Completion done);
  // Worker `from_worker_id` answers invocation `invocation_id`.
  void complete(std::string_view invocation_id, std::string_view from_worker_id, Outcome outcome);
  // Fires a binding of a built-in trigger type: its condition function first (docs/protocol.md §3.11),
  // then the target with the binding's metadata.
  void fire(const TriggerBinding& binding, std::string_view condition_function_id, std::string payload,
            FireCompletion done);

  // --- trigger bindings on behalf of the engine itself (engine::register_trigger) ---
  // Stores an ownerless binding and reports its activation: immediately for in-process or absent
  // providers, on the acknowledgement (or after trigger_ack_timeout) for a remote provider.
  void register_trigger(TriggerBinding binding, std::function<void(std::optional<ErrorBody>)> done);
  // Removes a binding by id and tells its provider. False when no such binding existed.
  bool unregister_trigger(std::string_view id);

  // --- events and time ---
  void subscribe_worker_events(WorkerEventListener listener);
  void announce_worker_event(std::string_view event, std::string_view worker_id);
  // Runs every ~100 ms from net/: expires deadlines and runs the registered tickers.
  void tick(Clock::time_point now);
  void add_ticker(std::function<void(Clock::time_point)> ticker);

  std::shared_ptr<Endpoint> find_endpoint(std::string_view worker_id) const;

 private:
  struct RouteRequest {
    std::string_view function_id, data, metadata, traceparent, baggage;
    const Endpoint* caller = nullptr;  // null for engine-originated calls
    Completion done;                   // empty: nobody waits
  };
  void route(RouteRequest request);
  void handle_invoke(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_enqueue(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_result(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_register_function(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_register_trigger_type(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_register_trigger(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_unregister_trigger(const Message& m);
  void handle_trigger_result(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_reattach(const std::shared_ptr<Endpoint>& from, const Message& m);
  // Activates `bindings` on `provider`; in-process rejections drop the binding and tell its owner.
  void activate_on(const std::shared_ptr<Endpoint>& provider, const std::vector<TriggerBinding>& bindings);
  void notify_binder(const TriggerBinding& binding, const ErrorBody& error);
  void expire_acks(Clock::time_point now);

  const EngineOptions options_;
  Registry registry_;
  InvocationTable invocations_;

  mutable std::mutex mu_;  // guards the members below (rarely touched)
  std::vector<std::shared_ptr<InProcessWorker>> in_process_workers_;
  std::vector<WorkerEventListener> worker_listeners_;
  std::vector<std::function<void(Clock::time_point)>> tickers_;
  struct AwaitingAck {
    Clock::time_point deadline;
    std::function<void(std::optional<ErrorBody>)> done;
  };
  StringMap<AwaitingAck> awaiting_acks_;  // trigger id → engine::register_trigger waiting
};

// The E→W invocationresult frame for one outcome.
std::string build_result_frame(std::string_view invocation_id, std::string_view function_id, const Outcome& outcome);

// Returns `baggage` with iii.function.id set to `function_id` (docs/protocol.md §6): other entries are
// kept; an empty baggage stays empty.
std::string rewrite_baggage(std::string_view baggage, std::string_view function_id);

// True when raw JSON `metadata` is an object whose `internal` is true (hidden from listings).
bool metadata_marks_internal(std::string_view metadata);

// The `condition_function_id` string inside a binding's raw JSON config, or "".
std::string condition_function_id_of(std::string_view config);

}  // namespace iii
