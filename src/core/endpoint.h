// An Endpoint is one worker as the engine sees it: a remote WebSocket connection or an in-process
// built-in. The router treats both the same (docs/architecture.md "everything is a worker"): it delivers
// calls to an endpoint and asks it to activate or deactivate trigger bindings of the types it
// provides. Results come back through Engine::complete().
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error_body.h"

namespace iii {

struct AccessSession;

// One call to deliver. Views are valid for the duration of deliver() only.
struct CallView {
  std::string_view invocation_id;  // canonical UUID the callee answers with
  std::string_view function_id;   // as the callee registered it (FunctionEntry::local_id)
  std::string_view data = "null";  // raw JSON, never empty
  std::string_view metadata;       // raw JSON; empty = none
  std::string_view traceparent;
  std::string_view baggage;
  std::string_view caller_worker_id;  // empty for engine-originated calls
  bool inject_caller = false;         // splice _caller_worker_id into an object `data`
};

// A trigger binding: "run function_id when trigger_type fires with config".
struct TriggerBinding {
  std::string id;
  std::string trigger_type;
  std::string function_id;
  std::string config = "null";  // raw JSON
  std::string metadata;         // raw JSON; empty = none
  std::string owner_worker_id;  // who registered it; empty = ownerless (engine::register_trigger)
};

class Endpoint {
 public:
  Endpoint(std::string worker_id, bool in_process, std::shared_ptr<const AccessSession> access = nullptr)
      : worker_id_(std::move(worker_id)), serial_(next_serial()), in_process_(in_process), access_(std::move(access)) {}
  virtual ~Endpoint() = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  const std::string& worker_id() const { return worker_id_; }
  // A number no other endpoint of this process ever has: what the invocation table records for
  // callers and callees (an integer to copy and compare, never reused, not a pointer).
  uint64_t serial() const { return serial_; }
  bool in_process() const { return in_process_; }
  // What this worker may call and register, when it connected through a listener with an `rbac`
  // block or a middleware (core/access.h); null: everything.
  const AccessSession* access() const { return access_.get(); }

  // False once the engine has torn the worker down. Set by the Registry under its lock, so a
  // registration racing a teardown either lands before it (and is cleaned) or is refused.
  bool alive() const { return alive_.load(); }
  void mark_dead() { alive_.store(false); }

  virtual void deliver(const CallView& call) = 0;

  // Activates a binding whose type this endpoint provides. An in-process provider validates
  // synchronously and returns its rejection; a remote provider forwards and returns nullopt.
  virtual std::optional<ErrorBody> activate_trigger(const TriggerBinding& binding) = 0;
  virtual void deactivate_trigger(const TriggerBinding& binding) = 0;

  // Sends a complete text frame (remote endpoints only; in-process endpoints ignore it).
  virtual void send(std::string frame) {}
  // Closes the transport (remote endpoints only).
  virtual void close() {}
  // Another engine of the cluster (iii-cluster, docs/architecture.md "Several engines"): the
  // functions it owns are that engine's, and calls delivered to it are forwarded there.
  virtual bool forwards_to_engine() const { return false; }

 private:
  static uint64_t next_serial() {
    static std::atomic<uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  const std::string worker_id_;
  const uint64_t serial_;
  const bool in_process_;
  const std::shared_ptr<const AccessSession> access_;
  std::atomic<bool> alive_{true};
};

// A remote worker: turns deliveries and activations into protocol frames and send()s them.
// The transport (net/) implements send() and close().
class RemoteEndpoint : public Endpoint {
 public:
  explicit RemoteEndpoint(std::string worker_id, std::shared_ptr<const AccessSession> access = nullptr)
      : Endpoint(std::move(worker_id), false, std::move(access)) {}
  void deliver(const CallView& call) override;
  std::optional<ErrorBody> activate_trigger(const TriggerBinding& binding) override;
  void deactivate_trigger(const TriggerBinding& binding) override;
};

// The E→W invokefunction frame for `call` (docs/protocol.md §2.11).
std::string build_invoke_frame(const CallView& call);

// Appends `data` to `out` with "_caller_worker_id" added as its last key when `data` is a JSON
// object (last, so that a caller cannot shadow it with its own key); other values as they are.
void append_with_caller(std::string& out, std::string_view data, std::string_view worker_id);

}  // namespace iii
