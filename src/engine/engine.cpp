#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/json.hpp>

#include "core/json_text.h"
#include "wire/json_writer.h"
#include "wire/uuid.h"
#include "engine/in_process_worker.h"

namespace iii {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_json_false(std::string_view raw) {
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' || raw.back() == '\r'))
    raw.remove_suffix(1);
  return raw == "false";
}

}  // namespace

std::string build_result_frame(std::string_view invocation_id, std::string_view function_id, const Outcome& o) {
  // Sized so that the frame is built in one allocation (keys and quotes fit in the constant).
  FrameWriter w(96 + invocation_id.size() + function_id.size() + o.result.size());
  w.string("type", "invocationresult").string("invocation_id", invocation_id).string("function_id", function_id);
  if (o.error) {
    w.raw("error", o.error->to_json());
  } else if (!o.result.empty() && o.result != "null") {
    w.raw("result", o.result);
  }
  return w.finish();
}

std::string rewrite_baggage(std::string_view baggage, std::string_view function_id) {
  if (baggage.empty()) return {};
  std::string out;
  size_t start = 0;
  while (start <= baggage.size()) {
    size_t end = baggage.find(',', start);
    if (end == std::string_view::npos) end = baggage.size();
    std::string_view entry = baggage.substr(start, end - start);
    std::string_view key = entry.substr(0, entry.find('='));
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    if (key != "iii.function.id" && !entry.empty()) {
      if (!out.empty()) out += ',';
      out += entry;
    }
    start = end + 1;
  }
  if (!out.empty()) out += ',';
  out += "iii.function.id=";
  for (char c : function_id) {  // percent-encode what baggage values may not hold
    const bool safe = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~';
    if (safe) {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += kHex[static_cast<unsigned char>(c) & 0xf];
    }
  }
  return out;
}

std::string condition_function_id_of(std::string_view config) {
  if (config.find("condition_function_id") == std::string_view::npos) return {};
  const std::optional<boost::json::value> v = json_text::parse(config);
  if (!v || !v->is_object()) return {};
  const auto* cond = v->as_object().if_contains("condition_function_id");
  if (!cond || !cond->is_string()) return {};
  return std::string(cond->as_string());
}

FunctionEntry function_entry(const FunctionSpec& spec, std::shared_ptr<Endpoint> owner) {
  FunctionEntry entry;
  entry.id = spec.id;
  entry.description = spec.description;
  entry.request_format = spec.request_format;
  entry.response_format = spec.response_format;
  entry.metadata = spec.metadata;
  entry.internal = metadata_marks_internal(spec.metadata);
  entry.owner = std::move(owner);
  return entry;
}

bool metadata_marks_internal(std::string_view metadata) {
  if (metadata.find("internal") == std::string_view::npos) return false;
  const std::optional<boost::json::value> v = json_text::parse(metadata);
  if (!v || !v->is_object()) return false;
  const auto* flag = v->as_object().if_contains("internal");
  return flag && flag->is_bool() && flag->as_bool();
}

Engine::Engine(EngineOptions options) : options_(options), invocations_(options.max_pending_invocations) {}

Engine::~Engine() = default;

// --- remote connections ---

void Engine::attach(const std::shared_ptr<Endpoint>& endpoint, std::string ip_address) {
  WorkerEntry entry;
  entry.endpoint = endpoint;
  entry.reattach_token = new_secret_uuid();
  entry.connected_at_ms = now_ms();
  entry.ip_address = std::move(ip_address);
  std::string frame = FrameWriter(128)
                          .string("type", "workerregistered")
                          .string("worker_id", endpoint->worker_id())
                          .string("reattach_token", entry.reattach_token)
                          .finish();
  registry_.add_worker(std::move(entry));
  endpoint->send(std::move(frame));
  spdlog::info("worker {} connected", endpoint->worker_id());
  announce_worker_event("worker_connected", endpoint->worker_id());
}

void Engine::detach(const std::shared_ptr<Endpoint>& endpoint) {
  std::optional<Teardown> teardown = registry_.remove_worker(endpoint);
  if (!teardown) return;
  for (auto& [binding, provider] : teardown->unbound) provider->deactivate_trigger(binding);
  for (PendingInvocation& p : invocations_.take_worker(endpoint->serial()))
    p.finish(Outcome::failure(codes::kInvocationStopped, "Invocation stopped"));
  spdlog::info("worker {} disconnected ({} functions, {} trigger types removed)", endpoint->worker_id(),
               teardown->functions_removed.size(), teardown->trigger_types_removed.size());
  announce_worker_event("worker_disconnected", endpoint->worker_id());
}

std::shared_ptr<Endpoint> Engine::find_endpoint(std::string_view worker_id) const {
  for (const WorkerEntry& w : registry_.workers())
    if (w.endpoint->worker_id() == worker_id) return w.endpoint;
  return nullptr;
}

// --- built-in workers ---

void Engine::add_in_process_worker(const std::shared_ptr<InProcessWorker>& worker) {
  {
    std::lock_guard lock(mu_);
    in_process_workers_.push_back(worker);
  }
  WorkerEntry entry;
  entry.endpoint = worker;
  entry.connected_at_ms = now_ms();
  entry.meta.name = worker->name();
  entry.meta.runtime = "engine";
  entry.meta.version = III_VERSION;
  entry.meta.isolation = "\"in-process\"";
  registry_.add_worker(std::move(entry));
  for (const FunctionSpec& spec : worker->function_specs()) register_in_process_function(worker, spec);
  for (const TriggerTypeSpec& spec : worker->trigger_type_specs()) register_in_process_trigger_type(worker, spec);
  worker->set_attached();
}

void Engine::register_in_process_function(const std::shared_ptr<InProcessWorker>& worker, const FunctionSpec& spec) {
  registry_.upsert_function(function_entry(spec, worker));
}

bool Engine::update_worker_metadata(std::string_view worker_id, WorkerMetadata meta) {
  if (!registry_.update_worker_metadata(worker_id, std::move(meta))) return false;
  announce_worker_event("worker_metadata_updated", worker_id);
  return true;
}

void Engine::register_in_process_trigger_type(const std::shared_ptr<InProcessWorker>& worker, const TriggerTypeSpec& spec) {
  auto bindings = registry_.upsert_trigger_type(
      TriggerTypeEntry{spec.id, spec.description, spec.trigger_request_format, spec.call_request_format, worker});
  if (bindings) activate_on(worker, *bindings);
}

std::shared_ptr<InProcessWorker> Engine::in_process_worker(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto& w : in_process_workers_)
    if (w->name() == name) return w;
  return nullptr;
}

// --- invocations ---

void Engine::route(RouteRequest r) {
  std::shared_ptr<const FunctionEntry> fn = registry_.find_function(r.function_id);
  if (fn && r.local_only && fn->owner->forwards_to_engine()) fn = nullptr;
  if (!fn) {
    if (r.done) {
      r.done(Outcome::failure(codes::kFunctionNotFound, "Function " + std::string(r.function_id) + " not found"));
    } else {
      spdlog::debug("call to unknown function {} dropped", r.function_id);
    }
    return;
  }
  const std::shared_ptr<Endpoint>& callee = fn->delivery ? fn->delivery : fn->owner;
  const UuidWithBytes fresh_id = new_uuid_with_bytes();  // the bytes spare the tracer a parse
  const UuidText& id_text = fresh_id.text;
  const std::string_view id(id_text.data(), id_text.size());
  // The observer (iii-observability) opens the call's span and counts it; the entry's finish()
  // closes both, whoever takes the entry (result, deadline, teardown).
  std::shared_ptr<CallObservation> observation;
  if (InvocationObserver* observer = r.unobserved ? nullptr : invocation_observer()) {
    observation = observer->begin(CallStart{id, r.function_id, callee->worker_id(),
                                            r.caller ? std::string_view(r.caller->worker_id()) : std::string_view(),
                                            r.trigger_type, r.traceparent, &fresh_id.bytes});
  }
  // The entry shares the observation: kept here too, since a teardown may take and finish the
  // entry before deliver() has read the observation's traceparent.
  PendingInvocation entry{std::string(r.function_id), callee->serial(), r.caller ? r.caller->serial() : 0,
                          Clock::now() + options_.invocation_timeout, observation, std::move(r.done)};
  if (!invocations_.add(id_text, std::move(entry))) {
    spdlog::warn("invocation table full ({} in flight): call to {} refused", invocations_.size(), r.function_id);
    entry.finish(Outcome::failure("too_many_invocations", "The engine has too many invocations in flight"));
    return;
  }
  // A teardown that started before add() did not see this entry: finish it ourselves.
  if (!callee->alive()) {
    if (auto p = invocations_.take(id)) p->finish(Outcome::failure(codes::kInvocationStopped, "Invocation stopped"));
    return;
  }
  std::string baggage;
  if (!r.baggage.empty() && !r.function_id.starts_with("engine::")) baggage = rewrite_baggage(r.baggage, r.function_id);
  CallView call;
  call.invocation_id = id;
  call.function_id = fn->local_id.empty() ? r.function_id : std::string_view(fn->local_id);
  call.data = r.data.empty() ? std::string_view("null") : r.data;
  call.metadata = r.metadata;
  call.traceparent = observation && !observation->child_traceparent().empty() ? observation->child_traceparent()
                                                                               : r.traceparent;
  call.baggage = baggage.empty() ? r.baggage : baggage;
  if (r.caller) {
    call.caller_worker_id = r.caller->worker_id();
    call.inject_caller = true;
  }
  callee->deliver(call);
}

void Engine::invoke(std::string_view function_id, std::string_view data, std::string_view metadata, Completion done,
                    const CallContext& context) {
  RouteRequest r;
  r.function_id = function_id;
  r.data = data;
  r.metadata = metadata;
  r.trigger_type = context.trigger_type;
  r.traceparent = context.traceparent;
  r.baggage = context.baggage;
  r.local_only = context.local_only;
  r.unobserved = context.unobserved;
  r.done = std::move(done);
  route(std::move(r));
}

void Engine::complete(std::string_view invocation_id, uint64_t from_serial, std::string_view from_worker_id,
                      Outcome outcome) {
  PendingInvocation entry;
  switch (invocations_.take_result(invocation_id, from_serial, &entry)) {
    case TakeStatus::kTaken:
      if (!entry.on_complete && outcome.error)
        spdlog::debug("void call to {} failed: {}: {}", entry.function_id, outcome.error->code, outcome.error->message);
      entry.finish(std::move(outcome));
      return;
    case TakeStatus::kUnknownId:
      spdlog::debug("worker {}: result for unknown or finished invocation {} dropped", from_worker_id, invocation_id);
      return;
    case TakeStatus::kWrongSender:
      spdlog::warn("worker {}: result for invocation {} that was routed to another worker dropped", from_worker_id,
                   invocation_id);
      return;
  }
}

void Engine::fire(const TriggerBinding& binding, std::string_view condition_function_id, std::string payload,
                  FireCompletion done, std::string traceparent) {
  const CallContext context{binding.trigger_type, traceparent, {}};
  if (condition_function_id.empty()) {
    invoke(
        binding.function_id, payload, binding.metadata,
        [done = std::move(done)](Outcome o) { if (done) done(FireStatus::kRan, std::move(o)); }, context);
    return;
  }
  invoke(condition_function_id, payload, {},
         [this, target = binding.function_id, metadata = binding.metadata, payload, done = std::move(done),
          cond = std::string(condition_function_id), type = binding.trigger_type,
          traceparent](Outcome o) mutable {
           if (!o.ok()) {
             spdlog::warn("condition {} for {} failed: {}: {}", cond, target, o.error->code, o.error->message);
             if (done) done(FireStatus::kConditionFailed, std::move(o));
             return;
           }
           if (is_json_false(o.result)) {
             if (done) done(FireStatus::kSkipped, std::move(o));
             return;
           }
           invoke(
               target, payload, metadata,
               [done = std::move(done)](Outcome r) {
                 if (done) done(FireStatus::kRan, std::move(r));
               },
               CallContext{type, traceparent, {}});
         },
         context);
}

// --- observability ---

void Engine::set_invocation_observer(std::shared_ptr<InvocationObserver> observer) {
  std::lock_guard lock(mu_);
  observer_.store(observer.get(), std::memory_order_release);
  if (observer && std::find(observers_.begin(), observers_.end(), observer) == observers_.end())
    observers_.push_back(std::move(observer));
}

// --- events and time ---

void Engine::set_external_function_handler(ExternalFunctionHandler handler) {
  std::lock_guard lock(mu_);
  external_function_handler_ = std::move(handler);
}

bool Engine::register_delivered_function(FunctionEntry entry, std::shared_ptr<Endpoint> delivery) {
  entry.delivery = std::move(delivery);
  return registry_.upsert_function(std::move(entry));
}

ListenerId Engine::subscribe_worker_events(WorkerEventListener listener) {
  return worker_listeners_.add(std::move(listener));
}

void Engine::unsubscribe_worker_events(ListenerId id) { worker_listeners_.remove(id); }

void Engine::announce_worker_event(std::string_view event, std::string_view worker_id) {
  for (const auto& l : worker_listeners_.snapshot()) (*l)(event, worker_id);
}

TickerId Engine::add_ticker(Ticker ticker) { return tickers_.add(std::move(ticker)); }

void Engine::remove_ticker(TickerId id) { tickers_.remove(id); }

void Engine::tick(Clock::time_point now) {
  for (auto& [id, p] : invocations_.take_expired(now)) {
    const auto ms = options_.invocation_timeout.count();
    spdlog::warn("invocation {} of {} timed out after {} ms", id, p.function_id, ms);
    p.finish(Outcome::failure(codes::kTimeout, "Invocation of " + p.function_id + " timed out after " +
                                                  std::to_string(ms) + " ms"));
  }
  expire_acks(now);
  // Outside any lock (a ticker may call back into the engine, or remove itself).
  for (const auto& t : tickers_.snapshot()) (*t)(now);
}

}  // namespace iii
