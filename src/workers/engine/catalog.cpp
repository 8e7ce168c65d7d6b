// Catalog: a snapshot of the registry and the introspection shapes built from it
// (docs/protocol.md §4.1 "Shapes"). Optional fields are omitted when absent; no `namespace` keys
// (0.22.1 dialect).
#include <algorithm>

#include "workers/engine/engine_functions_internal.h"

#include "core/access.h"

namespace iii::engine_fn {
namespace {

template <class T, class Key>
auto find_sorted(const std::vector<T>& items, std::string_view id, Key key) -> decltype(&items[0]) {
  auto it = std::lower_bound(items.begin(), items.end(), id, [&](const T& item, std::string_view v) {
    return key(item) < v;
  });
  return it != items.end() && key(*it) == id ? &*it : nullptr;
}

void put_raw_if_present(json::object& out, std::string_view key, std::string_view raw) {
  if (!raw.empty()) out[key] = parse_raw(raw);
}

}  // namespace

Catalog::Catalog(Engine& engine, std::string_view viewer_worker_id) {
  const Registry& registry = engine.registry();
  workers = registry.workers();
  functions = registry.functions();
  trigger_types = registry.trigger_types();
  triggers = registry.triggers();
  if (auto viewer = viewer_worker_id.empty() ? nullptr : engine.find_endpoint(viewer_worker_id);
      viewer && viewer->access() && viewer->access()->rules->rbac)
    keep_visible_to(*viewer);
  std::sort(functions.begin(), functions.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  std::sort(trigger_types.begin(), trigger_types.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  std::sort(triggers.begin(), triggers.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const WorkerEntry& w : workers) {
    if (auto* in_process = dynamic_cast<const InProcessWorker*>(w.endpoint.get())) {
      names_.insert_or_assign(w.endpoint->worker_id(), in_process->name());
    } else if (w.meta.name) {
      names_.insert_or_assign(w.endpoint->worker_id(), *w.meta.name);
    }
  }
}

void Catalog::keep_visible_to(const Endpoint& viewer) {
  const AccessSession& s = *viewer.access();
  std::erase_if(functions, [&](const auto& f) { return !decide_call(s, viewer, f->id, f.get()).allowed; });
  StringMap<bool> visible;
  StringMap<bool> owners;
  for (const auto& f : functions) {
    visible.insert_or_assign(f->id, true);
    owners.insert_or_assign(f->owner->worker_id(), true);
  }
  std::erase_if(triggers, [&](const TriggerBinding& b) {
    return b.owner_worker_id != viewer.worker_id() && !visible.contains(b.function_id);
  });
  std::erase_if(trigger_types, [&](const auto& t) {
    return t->provider.get() != &viewer && !s.may_bind_trigger_type(t->id);
  });
  std::erase_if(workers, [&](const WorkerEntry& w) {
    return w.endpoint.get() != &viewer && !owners.contains(w.endpoint->worker_id());
  });
}

const FunctionEntry* Catalog::find_function(std::string_view id) const {
  auto found = find_sorted(functions, id, [](const auto& f) -> std::string_view { return f->id; });
  return found ? found->get() : nullptr;
}

const TriggerTypeEntry* Catalog::find_trigger_type(std::string_view id) const {
  auto found = find_sorted(trigger_types, id, [](const auto& t) -> std::string_view { return t->id; });
  return found ? found->get() : nullptr;
}

const TriggerBinding* Catalog::find_trigger(std::string_view id) const {
  return find_sorted(triggers, id, [](const TriggerBinding& b) -> std::string_view { return b.id; });
}

std::optional<std::string> Catalog::worker_name(const Endpoint* endpoint) const {
  if (!endpoint) return std::nullopt;
  if (auto it = names_.find(endpoint->worker_id()); it != names_.end()) return it->second;
  // Not (or no longer) in the worker list: an in-process worker still knows its own name.
  if (auto* in_process = dynamic_cast<const InProcessWorker*>(endpoint)) return in_process->name();
  return std::nullopt;
}

std::string Catalog::function_worker_name(std::string_view function_id) const {
  if (const FunctionEntry* f = find_function(function_id))
    if (auto name = worker_name(f->owner.get())) return *name;
  return std::string(first_segment(function_id));
}

std::string Catalog::trigger_type_worker_name(const TriggerTypeEntry& type) const {
  if (auto name = worker_name(type.provider.get())) return *name;
  return std::string(first_segment(type.id));
}

json::object Catalog::function_fields(const FunctionEntry& f) const {
  json::object out;
  out["function_id"] = f.id;
  out["worker_name"] = function_worker_name(f.id);
  if (!f.description.empty()) out["description"] = f.description;
  return out;
}

json::object Catalog::function_summary(const FunctionEntry& f) const {
  json::object out = function_fields(f);
  put_raw_if_present(out, "metadata", f.metadata);
  return out;
}

json::object Catalog::function_detail(const FunctionEntry& f) const {
  json::object out = function_fields(f);
  put_raw_if_present(out, "request_schema", f.request_format);
  put_raw_if_present(out, "response_schema", f.response_format);
  put_raw_if_present(out, "metadata", f.metadata);
  json::array bound;
  for (const TriggerBinding& b : triggers) {
    if (b.function_id != f.id) continue;
    json::object ref;
    ref["id"] = b.id;
    ref["trigger_type"] = b.trigger_type;
    ref["config"] = parse_raw(b.config);
    bound.push_back(std::move(ref));
  }
  out["registered_triggers"] = std::move(bound);
  return out;
}

json::object Catalog::trigger_type_summary(const TriggerTypeEntry& t) const {
  json::object out;
  out["id"] = t.id;
  out["worker_name"] = trigger_type_worker_name(t);
  out["description"] = t.description;
  return out;
}

json::object Catalog::trigger_type_detail(const TriggerTypeEntry& t) const {
  json::object out = trigger_type_summary(t);
  put_raw_if_present(out, "configuration_schema", t.trigger_request_format);
  put_raw_if_present(out, "request_schema", t.call_request_format);
  out["instance_count"] = std::count_if(triggers.begin(), triggers.end(),
                                        [&](const TriggerBinding& b) { return b.trigger_type == t.id; });
  return out;
}

json::object Catalog::registered_trigger_fields(const TriggerBinding& b) const {
  json::object out;
  out["id"] = b.id;
  out["trigger_type"] = b.trigger_type;
  out["function_id"] = b.function_id;
  out["worker_name"] = function_worker_name(b.function_id);
  out["config"] = parse_raw(b.config);
  return out;
}

json::object Catalog::registered_trigger_summary(const TriggerBinding& b) const {
  json::object out = registered_trigger_fields(b);
  out["config_summary"] = config_summary(b.config);
  return out;
}

json::object Catalog::registered_trigger_detail(const TriggerBinding& b) const {
  json::object out = registered_trigger_fields(b);
  put_raw_if_present(out, "metadata", b.metadata);
  const TriggerTypeEntry* type = find_trigger_type(b.trigger_type);
  out["trigger"] = type ? json::value(trigger_type_detail(*type)) : json::value(nullptr);
  const FunctionEntry* function = find_function(b.function_id);
  out["function"] = function ? json::value(function_detail(*function)) : json::value(nullptr);
  return out;
}

}  // namespace iii::engine_fn
