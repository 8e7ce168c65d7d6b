// engine::workers::list and engine::workers::info (docs/protocol.md §4.1). Remote workers appear in the
// list only once they reported a pid through engine::workers::register (as in the reference);
// in-process built-ins are always listed, as runtime "engine", status "available".
#include <algorithm>

#include "workers/engine/engine_functions_internal.h"

namespace iii::engine_fn {
namespace {

json::value optional_string(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }

// One worker as both list and info see it.
struct WorkerView {
  const WorkerEntry* entry;
  bool in_process;
  std::optional<std::string> name;
  std::vector<const FunctionEntry*> functions;  // the ones it owns, sorted by id
};

std::vector<WorkerView> collect_workers(const Catalog& catalog) {
  std::vector<WorkerView> out;
  out.reserve(catalog.workers.size());
  for (const WorkerEntry& w : catalog.workers) {
    WorkerView v{&w, w.endpoint->in_process(), catalog.worker_name(w.endpoint.get()), {}};
    for (const auto& f : catalog.functions)
      if (f->owner == w.endpoint) v.functions.push_back(f.get());
    out.push_back(std::move(v));
  }
  return out;
}

// WorkerSummary: every key present, null when unknown.
json::object worker_summary(Engine& engine, const WorkerView& v) {
  const WorkerEntry& w = *v.entry;
  const std::string& id = w.endpoint->worker_id();
  json::object out;
  out["name"] = optional_string(v.name);
  out["description"] = v.in_process ? json::value(nullptr) : optional_string(w.meta.description);
  out["version"] = optional_string(w.meta.version);
  out["id"] = id;
  out["runtime"] = v.in_process ? json::value("engine") : optional_string(w.meta.runtime);
  out["os"] = v.in_process ? json::value(nullptr) : optional_string(w.meta.os);
  out["status"] = v.in_process ? "available" : "connected";
  out["function_count"] = v.functions.size();
  out["connected_at_ms"] = w.connected_at_ms;
  out["active_invocations"] = engine.invocations().count_for_callee(w.endpoint->serial());
  out["isolation"] = v.in_process ? json::value("in-process") : parse_raw(w.meta.isolation);
  out["ip_address"] = w.ip_address.empty() ? json::value(nullptr) : json::value(w.ip_address);
  return out;
}

json::object worker_detail(Engine& engine, const WorkerView& v) {
  json::object out = worker_summary(engine, v);
  if (!v.in_process && v.entry->meta.pid) out["pid"] = *v.entry->meta.pid;
  out["internal"] = v.in_process;
  return out;
}

bool listed(const WorkerView& v) { return v.in_process || v.entry->meta.pid.has_value(); }

Outcome workers_list(Engine& engine, const Input& in, const InProcessCall& call) {
  const std::optional<std::string> search = in.string("search");
  const std::optional<std::string> runtime = in.string("runtime");
  const std::optional<std::string> status = in.string("status");
  const std::string needle = search ? lowercase(*search) : std::string();

  Catalog catalog(engine, call.caller_worker_id);
  std::vector<WorkerView> views = collect_workers(catalog);
  // By display name (the id when unnamed), then id.
  std::sort(views.begin(), views.end(), [](const WorkerView& a, const WorkerView& b) {
    const std::string& an = a.name ? *a.name : a.entry->endpoint->worker_id();
    const std::string& bn = b.name ? *b.name : b.entry->endpoint->worker_id();
    if (an != bn) return an < bn;
    return a.entry->endpoint->worker_id() < b.entry->endpoint->worker_id();
  });
  json::array out;
  for (const WorkerView& v : views) {
    if (!listed(v)) continue;
    json::object summary = worker_summary(engine, v);
    if (runtime && !(summary["runtime"].is_string() && summary["runtime"].get_string() == *runtime)) continue;
    if (status && summary["status"].get_string() != *status) continue;
    if (!needle.empty() && !contains_folded(v.name.value_or(""), needle)) continue;
    out.push_back(std::move(summary));
  }
  json::object result;
  result["workers"] = std::move(out);
  return Outcome::success(to_text(result));
}

// The worker called `name`: an in-process one first, else the most recently connected remote one.
const WorkerView* find_worker(const std::vector<WorkerView>& views, std::string_view name) {
  const WorkerView* best = nullptr;
  for (const WorkerView& v : views) {
    if (v.name != name) continue;
    if (v.in_process) return &v;
    if (!best || v.entry->connected_at_ms > best->entry->connected_at_ms ||
        (v.entry->connected_at_ms == best->entry->connected_at_ms &&
         v.entry->endpoint->worker_id() < best->entry->endpoint->worker_id()))
      best = &v;
  }
  return best;
}

Outcome workers_info(Engine& engine, const Input& in, const InProcessCall& call) {
  const std::string name = in.required_string("name");
  Catalog catalog(engine, call.caller_worker_id);
  std::vector<WorkerView> views = collect_workers(catalog);
  const WorkerView* v = find_worker(views, name);
  if (!v) return Outcome::failure(codes::kNotFound, "Worker '" + name + "' is not connected.");

  json::array functions;
  std::vector<std::string_view> function_ids;
  for (const FunctionEntry* f : v->functions) {
    functions.push_back(catalog.function_summary(*f));
    function_ids.push_back(f->id);
  }
  json::array trigger_types;
  for (const auto& t : catalog.trigger_types)
    if (t->provider == v->entry->endpoint) trigger_types.push_back(catalog.trigger_type_summary(*t));
  json::array registered;
  for (const TriggerBinding& b : catalog.triggers)
    if (std::binary_search(function_ids.begin(), function_ids.end(), b.function_id))
      registered.push_back(catalog.registered_trigger_summary(b));

  json::object out;
  out["worker"] = worker_detail(engine, *v);
  out["functions"] = std::move(functions);
  out["trigger_types"] = std::move(trigger_types);
  out["registered_triggers"] = std::move(registered);
  return Outcome::success(to_text(out));
}

}  // namespace

void add_worker_introspection_functions(InProcessWorker& worker, Engine& engine) {
  worker.add_function(FunctionSpec{"engine::workers::list", "List workers connected to the engine.", {}, {}, {}},
                      with_input("engine::workers::list", [&engine](const Input& in, const InProcessCall& call) {
                        return workers_list(engine, in, call);
                      }));
  worker.add_function(
      FunctionSpec{"engine::workers::info",
                   "Inspect one connected worker's full surface (functions, trigger types, registered triggers).",
                   {}, {}, {}},
      with_input("engine::workers::info",
                 [&engine](const Input& in, const InProcessCall& call) { return workers_info(engine, in, call); }));
}

}  // namespace iii::engine_fn
