// Trigger types and bindings: registration, activation on the provider, acknowledgements and
// rejections (docs/protocol.md §2.5–§2.9, §3.9).
#include <spdlog/spdlog.h>

#include "wire/json_writer.h"
#include "core/access.h"
#include "engine/engine.h"

namespace iii {
namespace {

std::string opt(const std::optional<std::string_view>& v) { return v ? std::string(*v) : std::string(); }

}  // namespace

std::string build_registration_error_frame(const TriggerBinding& b, const ErrorBody& error) {
  return FrameWriter(160)
      .string("type", "triggerregistrationresult")
      .string("id", b.id)
      .string("trigger_type", b.trigger_type)
      .string("function_id", b.function_id)
      .raw("error", error.to_json())
      .finish();
}

void Engine::activate_on(const std::shared_ptr<Endpoint>& provider, const std::vector<TriggerBinding>& bindings) {
  for (const TriggerBinding& b : bindings) {
    std::optional<ErrorBody> error = provider->activate_trigger(b);
    if (!error) continue;
    spdlog::warn("trigger {} ({}) rejected: {}", b.id, b.trigger_type, error->message);
    registry_.remove_trigger(b.id);
    notify_binder(b, *error);
  }
}

void Engine::notify_binder(const TriggerBinding& binding, const ErrorBody& error) {
  if (binding.owner_worker_id.empty()) return;
  if (auto owner = find_endpoint(binding.owner_worker_id); owner && owner->alive())
    owner->send(build_registration_error_frame(binding, error));
}

void Engine::handle_register_trigger_type(const std::shared_ptr<Endpoint>& from, const Message& m) {
  TriggerTypeEntry entry{std::string(*m.id), opt(m.description), opt(m.trigger_request_format),
                         opt(m.call_request_format), from};
  if (from->access()) return guard_trigger_type_registration(from, std::move(entry));
  register_trigger_type_entry(from, std::move(entry));
}

void Engine::register_trigger_type_entry(const std::shared_ptr<Endpoint>& from, TriggerTypeEntry entry) {
  std::shared_ptr<Endpoint> replaced;
  if (auto previous = registry_.find_trigger_type(entry.id); previous && previous->provider != from) {
    spdlog::warn("trigger type {} now provided by worker {} (was {})", entry.id, from->worker_id(),
                 previous->provider->worker_id());
    replaced = previous->provider;
  }
  std::optional<std::vector<TriggerBinding>> bindings = registry_.upsert_trigger_type(std::move(entry));
  if (!bindings) return;
  // The bindings move to the new provider: the one that had them stops serving them (a binding
  // it never had is ignored), so that nothing fires twice.
  if (replaced && replaced->alive())
    for (const TriggerBinding& b : *bindings) replaced->deactivate_trigger(b);
  activate_on(from, *bindings);
}

void Engine::unregister_trigger_type(std::string_view id, const std::shared_ptr<Endpoint>& provider) {
  std::vector<TriggerBinding> served;
  for (TriggerBinding& b : registry_.triggers())
    if (b.trigger_type == id) served.push_back(std::move(b));
  if (!registry_.remove_trigger_type(id, provider->worker_id())) return;
  // Parked now, until another provider comes: this one stops serving them.
  for (const TriggerBinding& b : served) provider->deactivate_trigger(b);
}

bool Engine::register_trigger_type_if_absent(TriggerTypeEntry entry) {
  const std::shared_ptr<Endpoint> provider = entry.provider;
  std::optional<std::vector<TriggerBinding>> bindings = registry_.upsert_trigger_type(std::move(entry), true);
  if (!bindings) return false;
  activate_on(provider, *bindings);
  return true;
}

void Engine::handle_register_trigger(const std::shared_ptr<Endpoint>& from, const Message& m) {
  TriggerBinding b;
  b.id = std::string(*m.id);
  b.trigger_type = std::string(*m.trigger_type);
  b.function_id = std::string(*m.function_id);
  b.config = m.config ? std::string(*m.config) : "null";
  b.metadata = opt(m.metadata);
  b.owner_worker_id = from->worker_id();
  if (from->access()) return guard_trigger_registration(from, std::move(b));
  add_trigger_binding(from, std::move(b));
}

void Engine::add_trigger_binding(const std::shared_ptr<Endpoint>& from, TriggerBinding b) {
  Registry::AddResult added = registry_.add_trigger(b, from.get());
  if (added.refused) return;
  if (!added.provider) {
    spdlog::info("trigger {} parked until a worker provides type {}", b.id, b.trigger_type);
    return;
  }
  activate_on(added.provider, {b});
}

void Engine::handle_unregister_trigger(const std::shared_ptr<Endpoint>& from, const Message& m) {
  // A worker behind RBAC removes only the bindings it registered.
  if (from->access() && from->access()->rules->rbac) {
    if (!unregister_trigger(*m.id, from->worker_id()))
      spdlog::warn("rbac {}: worker {}: unregistertrigger {} ignored: not a binding it registered",
                   from->access()->rules->listener, from->worker_id(), *m.id);
    return;
  }
  unregister_trigger(*m.id);
}

bool Engine::unregister_trigger(std::string_view id, std::optional<std::string_view> owner_worker_id) {
  std::optional<BoundTrigger> removed = registry_.remove_trigger(id, owner_worker_id);
  if (!removed) return false;
  if (removed->second && removed->second->alive()) removed->second->deactivate_trigger(removed->first);
  return true;
}

void Engine::handle_trigger_result(const std::shared_ptr<Endpoint>& from, const Message& m) {
  const std::string id(*m.id);
  std::function<void(std::optional<ErrorBody>)> waiting;
  {
    std::lock_guard lock(mu_);
    if (auto it = awaiting_acks_.find(id); it != awaiting_acks_.end()) {
      // Only the provider of the binding's type may answer for it (anti-spoofing).
      auto binding = registry_.find_trigger(id);
      auto type = binding ? registry_.find_trigger_type(binding->trigger_type) : nullptr;
      if (type && type->provider == from) {
        waiting = std::move(it->second.done);
        awaiting_acks_.erase(it);
      }
    }
  }
  if (waiting) {
    if (m.error) {
      std::optional<BoundTrigger> removed = registry_.remove_trigger(id);
      waiting(m.error);
    } else {
      waiting(std::nullopt);
    }
    return;
  }
  if (!m.error) return;  // success needs nothing
  std::optional<TriggerBinding> parked = registry_.park_trigger(id, from->worker_id());
  if (!parked) {
    spdlog::debug("worker {}: registration result for trigger {} it does not provide ignored", from->worker_id(), id);
    return;
  }
  spdlog::warn("trigger {} ({}) rejected by its provider: {}: {}", id, parked->trigger_type, m.error->code,
               m.error->message);
  notify_binder(*parked, *m.error);
}

void Engine::register_trigger(TriggerBinding binding, std::function<void(std::optional<ErrorBody>)> done) {
  binding.owner_worker_id.clear();  // ownerless: survives its creator's disconnect
  Registry::AddResult added = registry_.add_trigger(binding, nullptr);
  if (!added.provider) return done(std::nullopt);  // parked: activated when the type appears
  if (added.provider->in_process()) {
    std::optional<ErrorBody> error = added.provider->activate_trigger(binding);
    if (error) registry_.remove_trigger(binding.id);
    return done(std::move(error));
  }
  {
    std::lock_guard lock(mu_);
    awaiting_acks_.insert_or_assign(binding.id, AwaitingAck{Clock::now() + options_.trigger_ack_timeout, std::move(done)});
  }
  added.provider->activate_trigger(binding);
}

void Engine::expire_acks(Clock::time_point now) {
  std::vector<std::function<void(std::optional<ErrorBody>)>> expired;
  {
    std::lock_guard lock(mu_);
    boost::unordered::erase_if(awaiting_acks_, [&](auto& kv) {
      if (kv.second.deadline > now) return false;
      expired.push_back(std::move(kv.second.done));
      return true;
    });
  }
  for (auto& done : expired) done(std::nullopt);  // no answer in time: the binding is accepted anyway
}

}  // namespace iii
