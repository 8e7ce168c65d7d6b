// engine::functions::*, engine::triggers::* and engine::registered-triggers::* (docs/protocol.md §4.1):
// read-only views of the registry with filters. Every list is sorted; hidden by default are the
// engine's own entries (engine::*, except the public engine::queue::* functions) and functions
// whose metadata says internal: true.
#include <algorithm>

#include "workers/engine/engine_functions_internal.h"

namespace iii::engine_fn {
namespace {

constexpr size_t kFunctionInfoBatchMax = 32;

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool hidden_engine_function(std::string_view id) {
  return starts_with(id, "engine::") && !starts_with(id, "engine::queue::");
}

bool function_is_internal(const FunctionEntry& f) {
  return hidden_engine_function(f.id) || f.internal || metadata_marks_internal(f.metadata);
}

// 0: the needle anchors the id (prefix, or equals one "::" segment); 1: inside the id;
// 2: only in the description. Keeps `state::*` above functions that merely mention "state".
int search_rank(std::string_view function_id, std::string_view needle_lower) {
  const std::string id = lowercase(function_id);
  if (starts_with(id, needle_lower)) return 0;
  for (size_t start = 0;;) {
    size_t end = id.find("::", start);
    std::string_view segment = std::string_view(id).substr(start, end == std::string::npos ? id.npos : end - start);
    if (segment == needle_lower) return 0;
    if (end == std::string::npos) break;
    start = end + 2;
  }
  return id.find(needle_lower) != std::string::npos ? 1 : 2;
}

Outcome not_found(std::string message) { return Outcome::failure(codes::kNotFound, std::move(message)); }
Outcome invalid_arguments(std::string message) { return Outcome::failure(codes::kInvalidArguments, std::move(message)); }

json::object wrap(std::string_view key, json::array items) {
  json::object out;
  out[key] = std::move(items);
  return out;
}

// --- engine::functions::* ---

Outcome functions_list(Engine& engine, const Input& in) {
  const std::optional<std::string> search = in.string("search");
  const std::optional<std::string> prefix = in.string("prefix");
  const std::optional<std::string> worker = in.string("worker");
  const std::vector<std::string> workers = in.strings("workers").value_or(std::vector<std::string>{});
  const bool include_internal = in.boolean("include_internal").value_or(false);
  const std::string needle = search ? lowercase(*search) : std::string();

  Catalog catalog(engine);
  struct Row {
    int rank;
    const FunctionEntry* function;
  };
  std::vector<Row> rows;
  for (const auto& f : catalog.functions) {
    if (!include_internal && function_is_internal(*f)) continue;
    if (prefix && !starts_with(f->id, *prefix)) continue;
    if (worker || !workers.empty()) {
      const std::string owner = catalog.function_worker_name(f->id);
      if (owner != worker && std::find(workers.begin(), workers.end(), owner) == workers.end()) continue;
    }
    int rank = 0;
    if (!needle.empty()) {
      if (!contains_folded(f->id, needle) && !contains_folded(f->description, needle)) continue;
      rank = search_rank(f->id, needle);
    }
    rows.push_back({rank, f.get()});
  }
  // catalog.functions is sorted by id, so a stable sort on the rank keeps ids in order per tier.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.rank < b.rank; });
  json::array out;
  for (const Row& r : rows) out.push_back(catalog.function_summary(*r.function));
  return Outcome::success(to_text(wrap("functions", std::move(out))));
}

Outcome functions_info(Engine& engine, const Input& in) {
  std::optional<std::string> single = in.string("function_id");
  std::optional<std::vector<std::string>> batch = in.strings("function_ids");
  if (single && batch) return invalid_arguments("pass either `function_id` or `function_ids`, not both");
  if (!single && !batch) return invalid_arguments("missing field `function_id` (or `function_ids` for a batch)");

  Catalog catalog(engine);
  if (single) {
    const FunctionEntry* f = catalog.find_function(*single);
    if (!f) return not_found("Function '" + *single + "' is not registered.");
    return Outcome::success(to_text(catalog.function_detail(*f)));
  }

  std::vector<std::string> ids;  // deduplicated, in request order
  for (std::string& id : *batch)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
  if (ids.empty()) return invalid_arguments("`function_ids` must be a non-empty array of function ids");
  if (ids.size() > kFunctionInfoBatchMax)
    return invalid_arguments("too many function_ids (max " + std::to_string(kFunctionInfoBatchMax) + ")");
  json::array out;
  for (const std::string& id : ids) {
    if (const FunctionEntry* f = catalog.find_function(id)) {
      out.push_back(catalog.function_detail(*f));
    } else {
      json::object missing;
      missing["function_id"] = id;
      missing["error"] = "not_found";
      out.push_back(std::move(missing));
    }
  }
  return Outcome::success(to_text(wrap("functions", std::move(out))));
}

// --- engine::triggers::* (trigger types) ---

Outcome triggers_list(Engine& engine, const Input& in) {
  const std::optional<std::string> search = in.string("search");
  const std::optional<std::string> prefix = in.string("prefix");
  const std::optional<std::string> worker = in.string("worker");
  const bool include_internal = in.boolean("include_internal").value_or(false);
  const std::string needle = search ? lowercase(*search) : std::string();

  Catalog catalog(engine);
  json::array out;
  for (const auto& t : catalog.trigger_types) {
    if (!include_internal && starts_with(t->id, "engine::")) continue;
    if (prefix && !starts_with(t->id, *prefix)) continue;
    if (worker && catalog.trigger_type_worker_name(*t) != *worker) continue;
    if (!needle.empty() && !contains_folded(t->id, needle) && !contains_folded(t->description, needle)) continue;
    out.push_back(catalog.trigger_type_summary(*t));
  }
  return Outcome::success(to_text(wrap("triggers", std::move(out))));
}

Outcome triggers_info(Engine& engine, const Input& in) {
  const std::string id = in.required_string("id");
  Catalog catalog(engine);
  const TriggerTypeEntry* t = catalog.find_trigger_type(id);
  if (!t) return not_found("Trigger type '" + id + "' is not registered.");
  return Outcome::success(to_text(catalog.trigger_type_detail(*t)));
}

// --- engine::registered-triggers::* (live bindings) ---

Outcome registered_triggers_list(Engine& engine, const Input& in) {
  const std::optional<std::string> search = in.string("search");
  const std::optional<std::string> trigger_type = in.string("trigger_type");
  const std::optional<std::string> function_id = in.string("function_id");
  const std::optional<std::string> worker = in.string("worker");
  const bool include_internal = in.boolean("include_internal").value_or(false);
  const std::string needle = search ? lowercase(*search) : std::string();

  Catalog catalog(engine);
  json::array out;
  for (const TriggerBinding& b : catalog.triggers) {
    if (!include_internal && starts_with(b.function_id, "engine::")) continue;
    if (trigger_type && b.trigger_type != *trigger_type) continue;
    if (function_id && b.function_id != *function_id) continue;
    if (worker && catalog.function_worker_name(b.function_id) != *worker) continue;
    if (!needle.empty() && !contains_folded(b.id, needle) && !contains_folded(b.trigger_type, needle) &&
        !contains_folded(b.function_id, needle))
      continue;
    out.push_back(catalog.registered_trigger_summary(b));
  }
  return Outcome::success(to_text(wrap("registered_triggers", std::move(out))));
}

Outcome registered_triggers_info(Engine& engine, const Input& in) {
  const std::string id = in.required_string("id");
  Catalog catalog(engine);
  const TriggerBinding* b = catalog.find_trigger(id);
  if (!b) return not_found("Registered trigger '" + id + "' was not found.");
  return Outcome::success(to_text(catalog.registered_trigger_detail(*b)));
}

using Handler = Outcome (*)(Engine&, const Input&);

void add(InProcessWorker& worker, Engine& engine, const char* id, const char* description, Handler handler) {
  worker.add_function(FunctionSpec{id, description, {}, {}, {}},
                      with_input(id, [&engine, handler](const Input& in, const InProcessCall&) {
                        return handler(engine, in);
                      }));
}

}  // namespace

void add_introspection_functions(InProcessWorker& worker, Engine& engine) {
  add(worker, engine, "engine::functions::list", "List registered functions with their owning worker name.",
      functions_list);
  add(worker, engine, "engine::functions::info",
      "Inspect functions: schemas, owner, and registered triggers. Single `function_id`, or "
      "`function_ids: [...]` (max 32) to fetch several contracts in one call.",
      functions_info);
  add(worker, engine, "engine::triggers::list", "List trigger types registered with the engine.", triggers_list);
  add(worker, engine, "engine::triggers::info", "Inspect one trigger type: schemas, owner, and live instance count.",
      triggers_info);
  add(worker, engine, "engine::registered-triggers::list", "List registered trigger instances (subscriber rows).",
      registered_triggers_list);
  add(worker, engine, "engine::registered-triggers::info",
      "Inspect one registered trigger instance with denormalized trigger and function detail.",
      registered_triggers_info);
}

}  // namespace iii::engine_fn
