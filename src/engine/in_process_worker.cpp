#include "engine/in_process_worker.h"

#include <spdlog/spdlog.h>

#include "wire/uuid.h"
#include "engine/engine.h"

namespace iii {

InProcessWorker::InProcessWorker(Engine& engine, std::string name)
    : Endpoint(new_uuid(), /*in_process=*/true), engine_(engine), name_(std::move(name)) {}

void InProcessWorker::add_function(FunctionSpec spec, AsyncFunctionHandler handler) {
  {
    std::lock_guard lock(mu_);
    functions_.insert_or_assign(spec.id, std::make_shared<const AsyncFunctionHandler>(std::move(handler)));
    function_specs_.push_back(spec);
  }
  if (attached_) engine_.register_in_process_function(shared_from_this(), spec);
}

void InProcessWorker::add_function(FunctionSpec spec, SyncFunctionHandler handler) {
  add_function(std::move(spec), AsyncFunctionHandler([handler = std::move(handler)](const InProcessCall& call,
                                                                                     Completion done) {
                 done(handler(call));
               }));
}

void InProcessWorker::add_trigger_type(TriggerTypeSpec spec, TriggerTypeHandler handler) {
  {
    std::lock_guard lock(mu_);
    trigger_types_.insert_or_assign(spec.id, std::move(handler));
    trigger_type_specs_.push_back(spec);
  }
  if (attached_) engine_.register_in_process_trigger_type(shared_from_this(), spec);
}

void InProcessWorker::set_delivery_handler(AsyncFunctionHandler handler) {
  std::lock_guard lock(mu_);
  delivery_handler_ = std::make_shared<const AsyncFunctionHandler>(std::move(handler));
}

void InProcessWorker::deliver(const CallView& call) {
  std::shared_ptr<const AsyncFunctionHandler> handler;
  {
    std::lock_guard lock(mu_);
    if (auto it = functions_.find(call.function_id); it != functions_.end()) handler = it->second;
    else handler = delivery_handler_;
  }
  InProcessCall in{std::string(call.invocation_id), std::string(call.function_id),      std::string(call.data),
                   std::string(call.metadata),      std::string(call.caller_worker_id), std::string(call.traceparent),
                   std::string(call.baggage)};
  // The engine checks that the callee answered: by its serial, since a built-in may answer after
  // its worker was replaced (a reload), and a completion must not keep the worker alive.
  auto done = [engine = &engine_, id = in.invocation_id, serial = serial()](Outcome o) {
    engine->complete(id, serial, "a built-in", std::move(o));
  };
  if (!handler) return done(Outcome::failure(codes::kFunctionNotFound, "Function not found"));
  try {
    (*handler)(in, Completion(std::move(done)));  // moved along, never copied: it holds the id
  } catch (const std::exception& e) {
    spdlog::error("built-in {} threw: {}", in.function_id, e.what());
    engine_.complete(in.invocation_id, serial(), "a built-in", Outcome::failure("invocation_failed", e.what()));
  }
}

std::optional<ErrorBody> InProcessWorker::activate_trigger(const TriggerBinding& binding) {
  TriggerTypeHandler handler;
  {
    std::lock_guard lock(mu_);
    auto it = trigger_types_.find(binding.trigger_type);
    if (it == trigger_types_.end()) return ErrorBody{"trigger_type_not_found", "Trigger type not found", std::nullopt};
    handler = it->second;
  }
  try {
    return handler.activate ? handler.activate(binding) : std::nullopt;
  } catch (const std::exception& e) {
    return ErrorBody{codes::kTriggerRegistrationFailed, e.what(), std::nullopt};
  }
}

void InProcessWorker::deactivate_trigger(const TriggerBinding& binding) {
  TriggerTypeHandler handler;
  {
    std::lock_guard lock(mu_);
    auto it = trigger_types_.find(binding.trigger_type);
    if (it == trigger_types_.end()) return;
    handler = it->second;
  }
  if (handler.deactivate) handler.deactivate(binding);
}

}  // namespace iii
