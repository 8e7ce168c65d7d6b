// Engine::on_frame and the handlers of the worker → engine messages (docs/protocol.md §2).
#include <spdlog/spdlog.h>

#include "wire/json_writer.h"
#include "wire/uuid.h"
#include "core/access.h"
#include "core/frame_peek.h"
#include "engine/engine.h"

namespace iii {
namespace {

bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return false;
  return true;
}

std::string opt(const std::optional<std::string_view>& v) { return v ? std::string(*v) : std::string(); }

std::string_view limit(std::string_view s, size_t n = 200) { return s.size() > n ? s.substr(0, n) : s; }

}  // namespace

void Engine::on_frame(const std::shared_ptr<Endpoint>& from, std::string_view frame, size_t readable_after) {
  if (is_blank(frame)) return;
  Message m;
  if (std::string err = parse_message(frame, m, readable_after); !err.empty()) {
    spdlog::warn("worker {}: dropped frame: {} (frame starts: {})", from->worker_id(), err, limit(frame));
    // A caller that waits for an answer gets one, even when the frame could not be parsed.
    if (auto call = peek_sync_call(frame))
      from->send(build_result_frame(call->invocation_id, call->function_id, Outcome::failure("invalid_message", err)));
    return;
  }
  if (std::string err = validate_required(m); !err.empty()) {
    spdlog::warn("worker {}: dropped {} message: {}", from->worker_id(), m.type_name, err);
    // A caller that waits for an answer gets one, instead of waiting for its own timeout.
    if (m.type == MessageType::kInvokeFunction && m.invocation_id && m.action == ActionKind::kSync)
      from->send(build_result_frame(*m.invocation_id, opt(m.function_id), Outcome::failure("invalid_message", err)));
    return;
  }
  switch (m.type) {
    case MessageType::kInvokeFunction: return handle_invoke(from, m);
    case MessageType::kInvocationResult: return handle_result(from, m);
    case MessageType::kRegisterFunction: return handle_register_function(from, m);
    case MessageType::kUnregisterFunction:
      if (from->access()) return unregister_guarded_function(from, *m.id);
      registry_.remove_function(*m.id, from->worker_id());
      return;
    case MessageType::kRegisterTriggerType: return handle_register_trigger_type(from, m);
    case MessageType::kUnregisterTriggerType:
      registry_.remove_trigger_type(*m.id, from->worker_id());
      return;
    case MessageType::kRegisterTrigger: return handle_register_trigger(from, m);
    case MessageType::kUnregisterTrigger: return handle_unregister_trigger(from, m);
    case MessageType::kTriggerRegistrationResult: return handle_trigger_result(from, m);
    case MessageType::kRegisterService: return;  // bookkeeping only in the reference; nothing routes on it
    case MessageType::kReattach: return handle_reattach(from, m);
    case MessageType::kPing: from->send(R"({"type":"pong"})"); return;
    case MessageType::kPong: return;
    case MessageType::kWorkerRegistered:
    case MessageType::kUnknown:
      spdlog::warn("worker {}: dropped message of unknown type \"{}\"", from->worker_id(), limit(m.type_name));
      return;
  }
}

void Engine::handle_invoke(const std::shared_ptr<Endpoint>& from, const Message& m) {
  if (const AccessSession* s = from->access()) return handle_guarded_invoke(from, m, *s);
  dispatch_invoke(from, m);
}

void Engine::dispatch_invoke(const std::shared_ptr<Endpoint>& from, const Message& m) {
  if (m.action == ActionKind::kEnqueue) return handle_enqueue(from, m);
  RouteRequest r;
  r.function_id = *m.function_id;
  r.data = m.data.value_or("null");
  r.metadata = m.metadata.value_or("");
  r.traceparent = m.traceparent.value_or("");
  r.baggage = m.baggage.value_or("");
  r.caller = from.get();
  // Void calls never answer, even with an invocation_id (docs/protocol.md §3.3).
  if (m.action == ActionKind::kSync && m.invocation_id) {
    r.done = [caller = std::weak_ptr<Endpoint>(from), id = std::string(*m.invocation_id),
              fn = std::string(*m.function_id)](Outcome o) {
      if (auto c = caller.lock(); c && c->alive()) c->send(build_result_frame(id, fn, o));
    };
  }
  route(std::move(r));
}

void Engine::handle_enqueue(const std::shared_ptr<Endpoint>& from, const Message& m) {
  static constexpr std::string_view kProvider = "engine::queue::enqueue";
  const std::string receipt = new_uuid();
  FrameWriter payload(128 + (m.data ? m.data->size() : 4));
  payload.string("queue", *m.action_queue)
      .string("function_id", *m.function_id)
      .raw("data", m.data.value_or("null"))
      .string("messageReceiptId", receipt);
  if (m.traceparent) payload.string("traceparent", *m.traceparent);
  else payload.raw("traceparent", "null");
  if (m.baggage && !m.baggage->empty()) payload.string("baggage", rewrite_baggage(*m.baggage, *m.function_id));
  std::string data = payload.finish();
  if (InvocationObserver* observer = invocation_observer()) observer->deferred(*m.function_id);

  Completion done;
  if (m.invocation_id) {
    done = [caller = std::weak_ptr<Endpoint>(from), id = std::string(*m.invocation_id), fn = std::string(*m.function_id),
            receipt](Outcome o) {
      auto c = caller.lock();
      if (!c || !c->alive()) return;
      if (o.ok()) {
        c->send(build_result_frame(id, fn, Outcome::success(FrameWriter().string("messageReceiptId", receipt).finish())));
      } else if (o.error->code == codes::kFunctionNotFound) {
        c->send(build_result_frame(
            id, fn,
            Outcome::failure(codes::kEnqueueError,
                             "No queue provider is installed. `TriggerAction::Enqueue` routes through the "
                             "`engine::queue::enqueue` provider, which the built-in queue worker registers. Add "
                             "`- name: queue` to the workers of your config.yaml. (underlying: " +
                                 o.error->message + ")")));
      } else {
        c->send(build_result_frame(id, fn, Outcome::failure(codes::kEnqueueError, o.error->code + ": " + o.error->message)));
      }
    };
  }
  // The provider's call continues the caller's trace: its span (or the caller's context) is what
  // the queue stores with the message and continues on every delivery (docs/observability.md).
  invoke(kProvider, data, {}, std::move(done),
         CallContext{"enqueue", m.traceparent.value_or(""), m.baggage.value_or("")});
}

void Engine::handle_result(const std::shared_ptr<Endpoint>& from, const Message& m) {
  Outcome outcome;
  if (m.error) outcome.error = m.error;
  else if (m.result) outcome.result = std::string(*m.result);
  complete(*m.invocation_id, *from, std::move(outcome));
}

void Engine::handle_register_function(const std::shared_ptr<Endpoint>& from, const Message& m) {
  FunctionEntry entry;
  entry.invocation = opt(m.invocation);
  entry.id = std::string(*m.id);
  entry.description = opt(m.description);
  entry.request_format = opt(m.request_format);
  entry.response_format = opt(m.response_format);
  entry.metadata = opt(m.metadata);
  entry.internal = m.metadata && metadata_marks_internal(*m.metadata);
  entry.owner = from;
  if (from->access()) return guard_function_registration(from, std::move(entry));
  register_function_entry(from, std::move(entry));
}

void Engine::register_function_entry(const std::shared_ptr<Endpoint>& from, FunctionEntry entry) {
  if (!entry.invocation.empty()) {
    ExternalFunctionHandler handler;
    {
      std::lock_guard lock(mu_);
      handler = external_function_handler_;
    }
    if (!handler) {
      spdlog::warn("worker {}: HTTP-invoked function {} dropped: add `- name: iii-http-functions` to the config to "
                   "allow functions that are HTTP endpoints",
                   from->worker_id(), entry.id);
      return;
    }
    return handler(std::move(entry));
  }
  if (auto previous = registry_.find_function(entry.id); previous && previous->owner != from) {
    spdlog::warn("function {} re-registered by worker {} (was {}): the newer registration wins", entry.id,
                 from->worker_id(), previous->owner->worker_id());
  }
  if (!registry_.upsert_function(std::move(entry)))
    spdlog::debug("worker {}: registration after teardown ignored", from->worker_id());
}

void Engine::handle_reattach(const std::shared_ptr<Endpoint>& from, const Message& m) {
  std::shared_ptr<Endpoint> old = registry_.match_reattach(*m.previous_worker_id, m.reattach_token.value_or(""));
  if (!old || old == from || old->in_process()) {
    spdlog::info("worker {}: reattach to {} ignored (unknown worker or wrong token)", from->worker_id(),
                 limit(*m.previous_worker_id, 64));
    return;
  }
  spdlog::info("worker {} reattaches; retiring previous connection {}", from->worker_id(), old->worker_id());
  detach(old);  // finished before the next frame of `from` is processed
  old->close();
}

}  // namespace iii
