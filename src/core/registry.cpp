#include "core/registry.h"

#include <algorithm>
#include <mutex>

namespace iii {
namespace {

// Constant-time comparison: the reattach token is a secret.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

template <class Map>
auto values_of(const Map& map) {
  std::vector<typename Map::mapped_type> out;
  out.reserve(map.size());
  for (const auto& [k, v] : map) out.push_back(v);
  return out;
}

}  // namespace

// --- workers ---

void Registry::add_worker(WorkerEntry worker) {
  std::unique_lock lock(mu_);
  std::string id = worker.endpoint->worker_id();
  workers_.insert_or_assign(std::move(id), std::move(worker));
}

std::shared_ptr<Endpoint> Registry::match_reattach(std::string_view previous_worker_id, std::string_view token) const {
  std::shared_lock lock(mu_);
  auto it = workers_.find(previous_worker_id);
  if (it == workers_.end() || it->second.reattach_token.empty()) return nullptr;
  if (!same_secret(it->second.reattach_token, token)) return nullptr;
  return it->second.endpoint;
}

bool Registry::update_worker_metadata(std::string_view worker_id, WorkerMetadata meta) {
  std::unique_lock lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return false;
  it->second.meta = std::move(meta);
  return true;
}

std::vector<WorkerEntry> Registry::workers() const {
  std::shared_lock lock(mu_);
  return values_of(workers_);
}

std::optional<Teardown> Registry::remove_worker(const std::shared_ptr<Endpoint>& ep) {
  std::unique_lock lock(mu_);
  catalog_changes_.fetch_add(1, std::memory_order_relaxed);
  if (!ep->alive()) return std::nullopt;
  ep->mark_dead();
  const std::string& id = ep->worker_id();
  Teardown out;
  workers_.erase(id);

  boost::unordered::erase_if(functions_, [&](const auto& kv) {
    if (kv.second->owner != ep) return false;
    out.functions_removed.push_back(kv.first);
    return true;
  });
  // Bindings it registered go away; their providers (if other, live workers) are told.
  boost::unordered::erase_if(triggers_, [&](auto& kv) {
    if (kv.second.owner_worker_id != id) return false;
    auto type = trigger_types_.find(kv.second.trigger_type);
    if (type != trigger_types_.end() && type->second->provider != ep && type->second->provider->alive())
      out.unbound.emplace_back(std::move(kv.second), type->second->provider);
    return true;
  });
  boost::unordered::erase_if(pending_triggers_, [&](const auto& kv) { return kv.second.owner_worker_id == id; });
  // Types it provided go away; other workers' bindings to them are parked, never deleted.
  boost::unordered::erase_if(trigger_types_, [&](const auto& kv) {
    if (kv.second->provider != ep) return false;
    out.trigger_types_removed.push_back(kv.first);
    park_bindings_of_type_locked(kv.first);
    return true;
  });
  return out;
}

// --- functions ---

std::shared_ptr<const FunctionEntry> Registry::find_function(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = functions_.find(id);
  return it == functions_.end() ? nullptr : it->second;
}

bool Registry::upsert_function(FunctionEntry entry) {
  std::unique_lock lock(mu_);
  if (!entry.owner || !entry.owner->alive()) return false;
  std::string id = entry.id;
  functions_.insert_or_assign(std::move(id), std::make_shared<const FunctionEntry>(std::move(entry)));
  return catalog_changed();
}

bool Registry::insert_function(FunctionEntry entry) {
  std::unique_lock lock(mu_);
  if (!entry.owner || !entry.owner->alive() || functions_.contains(entry.id)) return false;
  std::string id = entry.id;
  functions_.emplace(std::move(id), std::make_shared<const FunctionEntry>(std::move(entry)));
  return catalog_changed();
}

bool Registry::replace_own_function(FunctionEntry entry) {
  std::unique_lock lock(mu_);
  auto it = functions_.find(entry.id);
  if (it == functions_.end() || it->second->owner != entry.owner) return false;
  it->second = std::make_shared<const FunctionEntry>(std::move(entry));
  return catalog_changed();
}

bool Registry::remove_function(std::string_view id, std::string_view owner_worker_id) {
  std::unique_lock lock(mu_);
  auto it = functions_.find(id);
  if (it == functions_.end() || !owned_by(it->second->owner, owner_worker_id)) return false;
  functions_.erase(it);
  return catalog_changed();
}

std::vector<std::shared_ptr<const FunctionEntry>> Registry::functions() const {
  std::shared_lock lock(mu_);
  return values_of(functions_);
}

// --- trigger types ---

std::optional<std::vector<TriggerBinding>> Registry::upsert_trigger_type(TriggerTypeEntry entry, bool only_if_absent) {
  std::unique_lock lock(mu_);
  if (only_if_absent && trigger_types_.contains(entry.id)) return std::nullopt;
  catalog_changes_.fetch_add(1, std::memory_order_relaxed);
  if (!entry.provider || !entry.provider->alive()) return std::nullopt;
  const std::string id = entry.id;
  trigger_types_.insert_or_assign(id, std::make_shared<const TriggerTypeEntry>(std::move(entry)));

  std::vector<TriggerBinding> to_activate;
  for (const auto& [tid, b] : triggers_)
    if (b.trigger_type == id) to_activate.push_back(b);
  boost::unordered::erase_if(pending_triggers_, [&](auto& kv) {
    if (kv.second.trigger_type != id) return false;
    to_activate.push_back(kv.second);
    triggers_.insert_or_assign(kv.first, std::move(kv.second));
    return true;
  });
  return to_activate;
}

void Registry::park_bindings_of_type_locked(std::string_view type_id) {
  boost::unordered::erase_if(triggers_, [&](auto& kv) {
    if (kv.second.trigger_type != type_id) return false;
    pending_triggers_.insert_or_assign(kv.first, std::move(kv.second));
    return true;
  });
}

bool Registry::remove_trigger_type(std::string_view id, std::string_view provider_worker_id) {
  std::unique_lock lock(mu_);
  auto it = trigger_types_.find(id);
  if (it == trigger_types_.end() || !owned_by(it->second->provider, provider_worker_id)) return false;
  park_bindings_of_type_locked(id);
  trigger_types_.erase(it);
  return catalog_changed();
}

std::shared_ptr<const TriggerTypeEntry> Registry::find_trigger_type(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = trigger_types_.find(id);
  return it == trigger_types_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const TriggerTypeEntry>> Registry::trigger_types() const {
  std::shared_lock lock(mu_);
  return values_of(trigger_types_);
}

// --- trigger bindings ---

Registry::AddResult Registry::add_trigger(TriggerBinding binding, const Endpoint* owner) {
  std::unique_lock lock(mu_);
  if (owner && !owner->alive()) return {true, nullptr};
  std::string id = binding.id;
  auto type = trigger_types_.find(binding.trigger_type);
  if (type == trigger_types_.end()) {
    triggers_.erase(id);
    pending_triggers_.insert_or_assign(std::move(id), std::move(binding));
    return {false, nullptr};
  }
  pending_triggers_.erase(id);
  triggers_.insert_or_assign(std::move(id), std::move(binding));
  return {false, type->second->provider};
}

std::optional<BoundTrigger> Registry::remove_trigger(std::string_view id, std::optional<std::string_view> owner_worker_id) {
  std::unique_lock lock(mu_);
  auto owned = [&](const TriggerBinding& b) { return !owner_worker_id || b.owner_worker_id == *owner_worker_id; };
  if (auto it = triggers_.find(id); it != triggers_.end()) {
    if (!owned(it->second)) return std::nullopt;
    std::shared_ptr<Endpoint> provider;
    if (auto type = trigger_types_.find(it->second.trigger_type); type != trigger_types_.end())
      provider = type->second->provider;
    BoundTrigger out{std::move(it->second), std::move(provider)};
    triggers_.erase(it);
    return out;
  }
  if (auto it = pending_triggers_.find(id); it != pending_triggers_.end()) {
    if (!owned(it->second)) return std::nullopt;
    BoundTrigger out{std::move(it->second), nullptr};
    pending_triggers_.erase(it);
    return out;
  }
  return std::nullopt;
}

std::optional<TriggerBinding> Registry::park_trigger(std::string_view id, std::string_view provider_worker_id) {
  std::unique_lock lock(mu_);
  auto it = triggers_.find(id);
  if (it == triggers_.end()) return std::nullopt;
  auto type = trigger_types_.find(it->second.trigger_type);
  if (type == trigger_types_.end() || !owned_by(type->second->provider, provider_worker_id)) return std::nullopt;
  TriggerBinding out = it->second;
  pending_triggers_.insert_or_assign(it->first, std::move(it->second));
  triggers_.erase(it);
  return out;
}

std::optional<TriggerBinding> Registry::find_trigger(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = triggers_.find(id);
  if (it == triggers_.end()) return std::nullopt;
  return it->second;
}

std::vector<TriggerBinding> Registry::triggers() const {
  std::shared_lock lock(mu_);
  return values_of(triggers_);
}

size_t Registry::pending_trigger_count() const {
  std::shared_lock lock(mu_);
  return pending_triggers_.size();
}

}  // namespace iii
