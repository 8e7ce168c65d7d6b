// A built-in worker living inside the engine process. It registers functions and trigger types
// in the same registry as a remote worker; calls to it run its C++ handlers directly.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "core/invocation_table.h"
#include "core/string_map.h"

namespace iii {

class Engine;

// One call as an in-process handler sees it. `data` is raw JSON ("null" when absent).
struct InProcessCall {
  std::string invocation_id;
  std::string function_id;
  std::string data;
  std::string metadata;          // raw JSON; empty = none
  std::string caller_worker_id;  // the calling connection; empty for engine-originated calls
  std::string traceparent;       // the call's W3C trace context (the engine's span when traced); empty = none
  std::string baggage;           // the caller's W3C baggage; empty = none
};

// A handler answers by calling `done` exactly once, now or later, from any thread.
using AsyncFunctionHandler = std::function<void(const InProcessCall&, Completion done)>;
// The common case: answer synchronously. Exceptions become invocation_failed.
using SyncFunctionHandler = std::function<Outcome(const InProcessCall&)>;

struct FunctionSpec {
  std::string id;
  std::string description;
  std::string request_format;   // raw JSON; empty = absent
  std::string response_format;  // raw JSON; empty = absent
  std::string metadata;         // raw JSON; empty = absent
};

// The provider side of a built-in trigger type. activate() validates the binding's config and
// returns an error to reject it; the same id activated again replaces the earlier binding.
struct TriggerTypeHandler {
  std::function<std::optional<ErrorBody>(const TriggerBinding&)> activate;
  std::function<void(const TriggerBinding&)> deactivate;
};

struct TriggerTypeSpec {
  std::string id;
  std::string description;
  std::string trigger_request_format;  // raw JSON; empty = absent
  std::string call_request_format;     // raw JSON; empty = absent
};

class InProcessWorker : public Endpoint, public std::enable_shared_from_this<InProcessWorker> {
 public:
  // `name` is what engine::workers::list shows (e.g. "iii-engine-functions").
  InProcessWorker(Engine& engine, std::string name);

  const std::string& name() const { return name_; }

  // Declare before Engine::add_in_process_worker(); later additions register immediately.
  void add_function(FunctionSpec spec, AsyncFunctionHandler handler);
  void add_function(FunctionSpec spec, SyncFunctionHandler handler);
  void add_trigger_type(TriggerTypeSpec spec, TriggerTypeHandler handler);
  // Runs the calls to functions this worker did not add itself but delivers for others
  // (Engine::register_delivered_function). Without one they fail with function_not_found.
  void set_delivery_handler(AsyncFunctionHandler handler);

  const std::vector<FunctionSpec>& function_specs() const { return function_specs_; }
  const std::vector<TriggerTypeSpec>& trigger_type_specs() const { return trigger_type_specs_; }

  // Endpoint
  void deliver(const CallView& call) override;
  std::optional<ErrorBody> activate_trigger(const TriggerBinding& binding) override;
  void deactivate_trigger(const TriggerBinding& binding) override;

  void set_attached() { attached_ = true; }

 protected:
  Engine& engine_;

 private:
  const std::string name_;
  std::atomic<bool> attached_{false};
  std::mutex mu_;
  // Shared so that a call copies a pointer, not the handler and its captures, under the lock.
  StringMap<std::shared_ptr<const AsyncFunctionHandler>> functions_;
  std::shared_ptr<const AsyncFunctionHandler> delivery_handler_;
  StringMap<TriggerTypeHandler> trigger_types_;
  std::vector<FunctionSpec> function_specs_;
  std::vector<TriggerTypeSpec> trigger_type_specs_;
};

}  // namespace iii
