// The engine's side of access control (docs/security.md): what a worker with an access session
// (core/access.h: it connected through a listener with an `rbac` block or a middleware) may
// call and register. Calls are checked before routing and may go through the middleware;
// registrations may be denied, prefixed, or rewritten by the listener's hooks. Every denial is
// logged once, with the listener, the worker, what was denied and the rule that denied it.
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "wire/json_writer.h"
#include "wire/uuid.h"
#include "core/access.h"
#include "core/json_text.h"
#include "engine/engine.h"

namespace iii {
namespace json = boost::json;

namespace {

std::string opt(const std::optional<std::string_view>& v) { return v ? std::string(*v) : std::string(); }

void log_denial(const AccessSession& s, const Endpoint& worker, std::string_view what, std::string_view id,
                std::string_view why) {
  spdlog::warn("rbac {}: worker {}: {} {} denied: {}", s.rules->listener, worker.worker_id(), what, id, why);
}

// The `action` object of a call as the middleware sees it (absent for a synchronous call).
std::string action_json(const Message& m) {
  if (m.action == ActionKind::kVoid) return R"({"type":"void"})";
  if (m.action == ActionKind::kEnqueue) return FrameWriter().string("type", "enqueue").string("queue", opt(m.action_queue)).finish();
  return {};
}

std::optional<std::string> string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_string()) return std::string(v->get_string());
  return std::nullopt;
}

}  // namespace

std::optional<ErrorBody> Engine::check_call_access(std::string_view caller_worker_id, std::string_view function_id) {
  auto caller = find_endpoint(caller_worker_id);
  if (!caller || !caller->access()) return std::nullopt;
  const AccessSession& s = *caller->access();
  AccessDecision d = decide_call(s, *caller, function_id, registry_.find_function(function_id).get());
  if (d.allowed) return std::nullopt;
  log_denial(s, *caller, "use of function", function_id, d.describe());
  return ErrorBody{codes::kForbidden, forbidden_message(function_id, d), std::nullopt};
}

std::shared_ptr<const FunctionEntry> Engine::resolve_for(const std::shared_ptr<Endpoint>& from, const AccessSession& s,
                                                         std::string& function_id) {
  if (!s.prefix.empty()) {
    std::string own = s.registered_id(function_id);
    if (auto fn = registry_.find_function(own); fn && fn->owner == from) {
      function_id = std::move(own);
      return fn;
    }
  }
  return registry_.find_function(function_id);
}

void Engine::handle_guarded_invoke(const std::shared_ptr<Endpoint>& from, const Message& m, const AccessSession& s) {
  std::string resolved(*m.function_id);
  std::shared_ptr<const FunctionEntry> fn = resolve_for(from, s, resolved);
  Message call = m;
  call.function_id = resolved;
  const std::string_view function_id = resolved;

  if (AccessDecision d = decide_call(s, *from, function_id, fn.get()); !d.allowed) {
    log_denial(s, *from, "call to", function_id, d.describe());
    // Answered even when the caller waits for nothing, as the reference does (a void call gets
    // a made-up invocation id, which the SDK ignores).
    from->send(build_result_frame(m.invocation_id ? *m.invocation_id : std::string_view(new_uuid()), function_id,
                                  Outcome::failure(codes::kForbidden, forbidden_message(function_id, d))));
    return;
  }
  const std::string& middleware = s.rules->middleware_function_id;
  const bool engine_builtin = function_id.starts_with("engine::") && (!fn || fn->owner->in_process());
  if (middleware.empty() || engine_builtin) return dispatch_invoke(from, call);

  // The middleware runs instead of the function; what it answers is the caller's result.
  FrameWriter input(128 + (m.data ? m.data->size() : 4) + s.context.size());
  input.string("function_id", function_id).raw("payload", m.data.value_or("null"));
  if (std::string action = action_json(m); !action.empty()) input.raw("action", action);
  input.raw("context", s.context);
  Completion done;
  if (m.invocation_id && m.action != ActionKind::kVoid) {
    done = [caller = std::weak_ptr<Endpoint>(from), id = std::string(*m.invocation_id),
            fn_id = std::string(*m.function_id), middleware](Outcome o) {
      if (!o.ok() && o.error->code == codes::kFunctionNotFound && o.error->message == "Function " + middleware + " not found")
        spdlog::warn("middleware {} is not registered: call to {} refused", middleware, fn_id);
      if (auto c = caller.lock(); c && c->alive()) c->send(build_result_frame(id, fn_id, o));
    };
  }
  invoke(middleware, input.finish(), "", std::move(done));
}

void Engine::call_registration_hook(const std::shared_ptr<Endpoint>& from, const std::string& hook, std::string input,
                                    std::function<void(const json::object& answer)> then,
                                    std::function<void(std::string why)> denied) {
  invoke(hook, std::move(input), "",
         [worker = std::weak_ptr<Endpoint>(from), hook, then = std::move(then), denied = std::move(denied)](Outcome o) {
           auto from = worker.lock();
           if (!from || !from->alive()) return;
           if (!o.ok()) return denied("hook " + hook + " failed: " + o.error->code + ": " + o.error->message);
           std::optional<json::value> v = o.result.empty() ? std::nullopt : json_text::parse(o.result);
           if (!v || !v->is_object())
             return denied("hook " + hook + " answered " + (o.result.empty() ? "nothing" : o.result.substr(0, 100)) +
                           " instead of an object");
           then(v->get_object());
         });
}

void Engine::guard_function_registration(const std::shared_ptr<Endpoint>& from, FunctionEntry entry) {
  const AccessSession& s = *from->access();
  entry.local_id = entry.id;  // what the worker calls it, whatever the engine ends up calling it
  if (!s.allow_function_registration)
    return log_denial(s, *from, "registration of function", entry.id, "the auth result sets allow_function_registration: false");
  const std::string& hook = s.rules->on_function_registration_function_id;
  if (hook.empty()) return finish_function_registration(from, std::move(entry));
  FrameWriter input;
  input.string("function_id", entry.id);
  if (!entry.description.empty()) input.string("description", entry.description);
  if (!entry.metadata.empty()) input.raw("metadata", entry.metadata);
  input.raw("context", s.context);
  const std::string id = entry.id;
  call_registration_hook(from, hook, input.finish(),
                         [this, from, entry = std::move(entry)](const json::object& o) mutable {
                           if (auto v = string_field(o, "function_id")) entry.id = *v;
                           if (auto v = string_field(o, "description")) entry.description = *v;
                           if (const json::value* v = o.if_contains("metadata"); v && !v->is_null()) {
                             entry.metadata = json_text::serialize(*v);
                             entry.internal = metadata_marks_internal(entry.metadata);
                           }
                           finish_function_registration(from, std::move(entry));
                         },
                         [from, id](std::string why) {
                           log_denial(*from->access(), *from, "registration of function", id, why);
                         });
}

void Engine::finish_function_registration(const std::shared_ptr<Endpoint>& from, FunctionEntry entry) {
  const AccessSession& s = *from->access();
  entry.id = s.registered_id(entry.id);
  if (entry.local_id == entry.id) entry.local_id.clear();
  if (s.rules->rbac) {
    // A worker behind RBAC must not take over an id: not the engine's, not another worker's.
    if (entry.id.starts_with("engine::"))
      return log_denial(s, *from, "registration of function", entry.id, "engine:: ids are reserved");
    if (auto existing = registry_.find_function(entry.id); existing && existing->owner != from)
      return log_denial(s, *from, "registration of function", entry.id,
                        "the id is registered by worker " + existing->owner->worker_id());
  }
  register_function_entry(from, std::move(entry));
}

void Engine::unregister_guarded_function(const std::shared_ptr<Endpoint>& from, std::string_view id) {
  // The worker names the function by the id it registered, which the engine may know by another.
  for (const auto& f : registry_.functions()) {
    if (f->owner == from && (f->local_id.empty() ? f->id : f->local_id) == id) {
      registry_.remove_function(f->id, from->worker_id());
      return;
    }
  }
}

void Engine::guard_trigger_type_registration(const std::shared_ptr<Endpoint>& from, TriggerTypeEntry entry) {
  const AccessSession& s = *from->access();
  if (!s.allow_trigger_type_registration)
    return log_denial(s, *from, "registration of trigger type", entry.id,
                      "the auth result does not set allow_trigger_type_registration: true");
  if (auto existing = s.rules->rbac ? registry_.find_trigger_type(entry.id) : nullptr; existing && existing->provider != from)
    return log_denial(s, *from, "registration of trigger type", entry.id,
                        "the type is provided by worker " + existing->provider->worker_id());
  const std::string& hook = s.rules->on_trigger_type_registration_function_id;
  if (hook.empty()) return register_trigger_type_entry(from, std::move(entry));
  FrameWriter input;
  input.string("trigger_type_id", entry.id).string("description", entry.description).raw("context", s.context);
  const std::string id = entry.id;
  call_registration_hook(
      from, hook, input.finish(),
      [this, from, entry = std::move(entry)](const json::object& o) mutable {
        if (auto v = string_field(o, "trigger_type_id")) entry.id = *v;
        if (auto v = string_field(o, "description")) entry.description = *v;
        register_trigger_type_entry(from, std::move(entry));
      },
      [from, id](std::string why) { log_denial(*from->access(), *from, "registration of trigger type", id, why); });
}

void Engine::deny_trigger_registration(const std::shared_ptr<Endpoint>& from, const TriggerBinding& binding,
                                       std::string_view why, std::string message) {
  log_denial(*from->access(), *from, "trigger " + binding.id + " of type " + binding.trigger_type + " on function",
             binding.function_id, why);
  // Answered (the reference drops it silently), so that the worker learns why its trigger is missing.
  from->send(build_registration_error_frame(binding, ErrorBody{codes::kRegistrationDenied, std::move(message), std::nullopt}));
}

void Engine::guard_trigger_registration(const std::shared_ptr<Endpoint>& from, TriggerBinding b) {
  const AccessSession& s = *from->access();
  const std::string& hook = s.rules->on_trigger_registration_function_id;
  if (hook.empty()) return finish_trigger_registration(from, std::move(b));
  std::string input = FrameWriter()
                          .string("trigger_id", b.id)
                          .string("trigger_type", b.trigger_type)
                          .string("function_id", b.function_id)
                          .raw("config", b.config)
                          .raw("context", s.context)
                          .finish();
  auto original = std::make_shared<const TriggerBinding>(b);
  call_registration_hook(
      from, hook, std::move(input),
      [this, from, original](const json::object& o) {
        TriggerBinding binding = *original;
        if (auto x = string_field(o, "trigger_id")) binding.id = *x;
        if (auto x = string_field(o, "trigger_type")) binding.trigger_type = *x;
        if (auto x = string_field(o, "function_id")) binding.function_id = *x;
        if (const json::value* c = o.if_contains("config"); c && !c->is_null()) binding.config = json_text::serialize(*c);
        finish_trigger_registration(from, std::move(binding));
      },
      [this, from, original, hook](std::string why) {
        deny_trigger_registration(from, *original, why, "trigger registration denied by " + hook);
      });
}

void Engine::finish_trigger_registration(const std::shared_ptr<Endpoint>& from, TriggerBinding b) {
  const AccessSession& s = *from->access();
  if (!s.may_bind_trigger_type(b.trigger_type))
    return deny_trigger_registration(from, b, "the trigger type is not in allowed_trigger_types",
                                     "trigger type '" + b.trigger_type + "' not allowed (not in allowed_trigger_types)");
  // A trigger fires without passing the call check, so it may only reach a function this worker
  // could call: its own, or one its rules allow.
  auto fn = resolve_for(from, s, b.function_id);
  if (AccessDecision d = decide_call(s, *from, b.function_id, fn.get()); !d.allowed)
    return deny_trigger_registration(from, b, d.describe(), forbidden_message(b.function_id, d));
  add_trigger_binding(from, std::move(b));
}

}  // namespace iii
