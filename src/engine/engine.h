// The engine core: routes every invocation to the worker that provides the function, and keeps
// the registry of workers, functions, trigger types and bindings consistent as workers come and
// go (docs/protocol.md §1–§6). It owns no sockets and no threads: net/ feeds it frames and a periodic
// tick(); built-in workers talk to it through InProcessWorker.
//
// Threading contract (docs/architecture.md, "Threads"):
//  * Every public method may be called from any thread, concurrently with any other, except
//    that the constructor and destructor run alone (main.cpp creates the engine before the I/O
//    threads start and destroys it after they stop). Frames of one connection arrive in order
//    (net/ calls on_frame from that connection's strand); frames of different connections are
//    processed in parallel.
//  * Nothing waits: no method blocks on I/O or on another worker. Routing takes the registry's
//    shared (read) lock and one shard of the invocation table; registrations take the registry's
//    exclusive lock briefly. The engine's own mutex guards only rarely touched lists (in-process
//    workers, listeners, tickers, awaiting acknowledgements) and is never held while calling out.
//  * Completions and callbacks run on the thread that causes them, never under an engine lock:
//    a result's Completion on the thread that read the callee's invocationresult (or the one
//    running tick() for a timeout, or detach() for invocation_stopped); an in-process handler on
//    the thread that routed the call to it; worker-event listeners and tickers on the thread that
//    announces or ticks. So a completion may call back into the engine, and must be quick or hand
//    its work off.
//  * The engine owns the Registry and the InvocationTable. Others read the registry through the
//    const registry() accessor; every change goes through an Engine method, which keeps the
//    registry, the providers' activations and the worker events consistent.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/callback_list.h"
#include "core/endpoint.h"
#include "core/error_body.h"
#include "core/invocation_table.h"
#include "core/message.h"
#include "core/registry.h"
#include "core/string_map.h"
#include "engine/invocation_observer.h"

namespace boost::json {
class object;
}

namespace iii {

struct AccessSession;
class InProcessWorker;
struct FunctionSpec;
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

using Ticker = std::function<void(Clock::time_point)>;
using TickerId = uint64_t;
using ListenerId = uint64_t;

// "worker_connected" | "worker_disconnected" | "worker_metadata_updated"
using WorkerEventListener = std::function<void(std::string_view event, std::string_view worker_id)>;

// Takes the registration of an HTTP-invoked function (a registerfunction with an `invocation`,
// in entry.invocation) after the engine's own checks; iii-http-functions installs one.
using ExternalFunctionHandler = std::function<void(FunctionEntry entry)>;

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();

  const Registry& registry() const { return registry_; }
  const InvocationTable& invocations() const { return invocations_; }
  const EngineOptions& options() const { return options_; }

  // --- remote connections (called by net/) ---
  // A new worker socket: registers it, sends workerregistered, announces worker_connected.
  void attach(const std::shared_ptr<Endpoint>& endpoint, std::string ip_address);
  // One text frame from `from`, processed to completion. Bad input is logged and dropped.
  // `readable_after`: bytes past the frame that may be read (parse_message, core/message.h).
  void on_frame(const std::shared_ptr<Endpoint>& from, std::string_view frame, size_t readable_after = 0);
  // Tears the worker down (docs/protocol.md §1.9). Idempotent.
  void detach(const std::shared_ptr<Endpoint>& endpoint);

  // --- built-in workers ---
  void add_in_process_worker(const std::shared_ptr<InProcessWorker>& worker);
  std::shared_ptr<InProcessWorker> in_process_worker(std::string_view name) const;
  // Registers one function of an in-process worker (InProcessWorker::add_function after attach).
  void register_in_process_function(const std::shared_ptr<InProcessWorker>& worker, const FunctionSpec& spec);
  // Registers one trigger type of an attached in-process worker and activates its parked bindings.
  void register_in_process_trigger_type(const std::shared_ptr<InProcessWorker>& worker, const TriggerTypeSpec& spec);
  // engine::workers::register: stores a worker's self-description and announces
  // worker_metadata_updated. False (nothing announced) for an unknown worker.
  bool update_worker_metadata(std::string_view worker_id, WorkerMetadata meta);

  // --- invocations ---
  // An engine-originated call (no _caller_worker_id). `done` may be empty (nobody waits). `context`
  // says what made the call and which trace it continues (docs/observability.md).
  void invoke(std::string_view function_id, std::string_view data, std::string_view metadata, Completion done,
              const CallContext& context = {});
  // The worker `from` answers invocation `invocation_id` (only the callee's answer counts).
  void complete(std::string_view invocation_id, const Endpoint& from, Outcome outcome) {
    complete(invocation_id, from.serial(), from.worker_id(), std::move(outcome));
  }
  // The same by the endpoint's serial() (its object may be gone); `from_name` names it in logs.
  void complete(std::string_view invocation_id, uint64_t from_serial, std::string_view from_name, Outcome outcome);
  // Fires a binding of a built-in trigger type: its condition function first (docs/protocol.md §3.11),
  // then the target with the binding's metadata, both continuing `traceparent` when given.
  void fire(const TriggerBinding& binding, std::string_view condition_function_id, std::string payload,
            FireCompletion done, std::string traceparent = {});

  // --- trigger bindings on behalf of the engine itself (engine::register_trigger) ---
  // Stores an ownerless binding and reports its activation: immediately for in-process or absent
  // providers, on the acknowledgement (or after trigger_ack_timeout) for a remote provider.
  void register_trigger(TriggerBinding binding, std::function<void(std::optional<ErrorBody>)> done);
  // Removes a binding by id (with `owner_worker_id`: only one that worker registered) and tells
  // its provider. False when no such binding existed.
  bool unregister_trigger(std::string_view id, std::optional<std::string_view> owner_worker_id = std::nullopt);

  // --- HTTP-invoked functions (iii-http-functions) ---
  // Without a handler (the default) such registrations are dropped with a warning.
  void set_external_function_handler(ExternalFunctionHandler handler);
  // Registers `entry` (owned by entry.owner, removed when it disconnects) whose calls `delivery`
  // runs. False when the owner is already torn down.
  bool register_delivered_function(FunctionEntry entry, std::shared_ptr<Endpoint> delivery);
  // Registers a function of another engine (iii-cluster) owned by `entry.owner`, unless a function
  // of that id exists already: this engine's own workers always win. False when it did.
  bool register_function_if_absent(FunctionEntry entry) { return registry_.insert_function(std::move(entry)); }
  // Updates such a function (its description, formats or metadata) if `entry.owner` still owns it.
  bool update_own_function(FunctionEntry entry) { return registry_.replace_own_function(std::move(entry)); }
  // Registers a trigger type of another engine (iii-cluster) provided by `entry.provider`, unless
  // one of that id is provided already (this engine's own providers always win): false then.
  // Bindings parked for the type are activated on it.
  bool register_trigger_type_if_absent(TriggerTypeEntry entry);
  // Removes trigger type `id` if `provider` still provides it: its bindings wait (parked) for
  // another provider, and `provider` is told to stop serving them.
  void unregister_trigger_type(std::string_view id, const std::shared_ptr<Endpoint>& provider);
  // Removes function `id` if `owner_worker_id` still owns it.
  bool unregister_function(std::string_view id, std::string_view owner_worker_id) {
    return registry_.remove_function(id, owner_worker_id);
  }

  // --- observability ---
  // Installs the observer of every routed call and telemetry frame (null removes it). A replaced
  // observer is kept alive until the engine goes, since calls in flight may still hold it.
  void set_invocation_observer(std::shared_ptr<InvocationObserver> observer);
  InvocationObserver* invocation_observer() const { return observer_.load(std::memory_order_acquire); }
  // A binary telemetry frame from a worker socket or an /otel socket: handed to the observer.
  void on_telemetry(std::string_view worker_id, std::string_view frame) {
    if (auto* o = invocation_observer()) o->telemetry(worker_id, frame);
  }

  // --- events and time ---
  // The listener runs on every worker_connected / worker_disconnected / worker_metadata_updated
  // until unsubscribed (a built-in that hot reloads must unsubscribe in stop()).
  ListenerId subscribe_worker_events(WorkerEventListener listener);
  void unsubscribe_worker_events(ListenerId id);
  void announce_worker_event(std::string_view event, std::string_view worker_id);
  // Runs every ~100 ms (main.cpp's timer): expires deadlines and runs the registered tickers.
  void tick(Clock::time_point now);
  // Periodic work of a built-in, run by every tick() until removed. A ticker removed while tick()
  // runs on another thread may run once more: tickers hold what they touch weakly.
  TickerId add_ticker(Ticker ticker);
  void remove_ticker(TickerId id);

  std::shared_ptr<Endpoint> find_endpoint(std::string_view worker_id) const;

  // For built-ins that act on a caller's behalf with a function id it names (engine::register_trigger,
  // engine::queue::enqueue): nullopt when worker `caller_worker_id` may call `function_id` (it has
  // no access session, the function is its own, or its rules allow it), else the FORBIDDEN error,
  // logged (docs/security.md).
  std::optional<ErrorBody> check_call_access(std::string_view caller_worker_id, std::string_view function_id);

 private:
  struct RouteRequest {
    std::string_view function_id, data, metadata, traceparent, baggage;
    std::string_view trigger_type;     // empty for a worker's direct call
    const Endpoint* caller = nullptr;  // null for engine-originated calls
    bool local_only = false;           // CallContext::local_only
    bool unobserved = false;           // CallContext::unobserved
    Completion done;                   // empty: nobody waits
  };
  void route(RouteRequest request);
  void handle_invoke(const std::shared_ptr<Endpoint>& from, const Message& m);
  void dispatch_invoke(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_enqueue(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_result(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_register_function(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_register_trigger_type(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_register_trigger(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_unregister_trigger(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_trigger_result(const std::shared_ptr<Endpoint>& from, const Message& m);
  void handle_reattach(const std::shared_ptr<Endpoint>& from, const Message& m);
  void register_function_entry(const std::shared_ptr<Endpoint>& from, FunctionEntry entry);
  void register_trigger_type_entry(const std::shared_ptr<Endpoint>& from, TriggerTypeEntry entry);
  void add_trigger_binding(const std::shared_ptr<Endpoint>& from, TriggerBinding binding);

  // engine_access.cpp: workers with an access session (docs/security.md).
  void handle_guarded_invoke(const std::shared_ptr<Endpoint>& from, const Message& m, const AccessSession& s);
  // The function `function_id` names for `from`: with a registration prefix, its own
  // `<prefix>::<id>` when it registered one (then `function_id` becomes that id), else `function_id`.
  std::shared_ptr<const FunctionEntry> resolve_for(const std::shared_ptr<Endpoint>& from, const AccessSession& s,
                                                   std::string& function_id);
  void guard_function_registration(const std::shared_ptr<Endpoint>& from, FunctionEntry entry);
  void finish_function_registration(const std::shared_ptr<Endpoint>& from, FunctionEntry entry);
  void unregister_guarded_function(const std::shared_ptr<Endpoint>& from, std::string_view id);
  void guard_trigger_type_registration(const std::shared_ptr<Endpoint>& from, TriggerTypeEntry entry);
  void guard_trigger_registration(const std::shared_ptr<Endpoint>& from, TriggerBinding binding);
  void finish_trigger_registration(const std::shared_ptr<Endpoint>& from, TriggerBinding binding);
  void deny_trigger_registration(const std::shared_ptr<Endpoint>& from, const TriggerBinding& binding,
                                 std::string_view why, std::string message);
  // Calls a registration hook: `then` with its answer object, or `denied` with the reason when it
  // fails, times out, is not registered or answers anything but an object (fail closed).
  void call_registration_hook(const std::shared_ptr<Endpoint>& from, const std::string& hook, std::string input,
                              std::function<void(const boost::json::object& answer)> then,
                              std::function<void(std::string why)> denied);
  // Activates `bindings` on `provider`; in-process rejections drop the binding and tell its owner.
  void activate_on(const std::shared_ptr<Endpoint>& provider, const std::vector<TriggerBinding>& bindings);
  void notify_binder(const TriggerBinding& binding, const ErrorBody& error);
  void expire_acks(Clock::time_point now);

  const EngineOptions options_;
  Registry registry_;
  InvocationTable invocations_;

  mutable std::mutex mu_;  // guards the members below (rarely touched)
  std::vector<std::shared_ptr<InProcessWorker>> in_process_workers_;
  CallbackList<WorkerEventListener> worker_listeners_;
  CallbackList<Ticker> tickers_;
  struct AwaitingAck {
    Clock::time_point deadline;
    std::function<void(std::optional<ErrorBody>)> done;
  };
  StringMap<AwaitingAck> awaiting_acks_;  // trigger id → engine::register_trigger waiting
  ExternalFunctionHandler external_function_handler_;
  std::vector<std::shared_ptr<InvocationObserver>> observers_;  // every one installed (see setter)
  std::atomic<InvocationObserver*> observer_{nullptr};
};

// The E→W invocationresult frame for one outcome.
std::string build_result_frame(std::string_view invocation_id, std::string_view function_id, const Outcome& outcome);

// The E→W triggerregistrationresult frame reporting that `binding` was refused with `error`.
std::string build_registration_error_frame(const TriggerBinding& binding, const ErrorBody& error);

// Returns `baggage` with iii.function.id set to `function_id` (docs/protocol.md §6): other entries are
// kept; an empty baggage stays empty.
std::string rewrite_baggage(std::string_view baggage, std::string_view function_id);

// True when raw JSON `metadata` is an object whose `internal` is true (hidden from listings).
bool metadata_marks_internal(std::string_view metadata);

// The registry entry of a function described by `spec` (an in-process worker's, or one that
// another engine announced), owned by `owner`.
FunctionEntry function_entry(const FunctionSpec& spec, std::shared_ptr<Endpoint> owner);

// The `condition_function_id` string inside a binding's raw JSON config, or "".
std::string condition_function_id_of(std::string_view config);

}  // namespace iii
