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

// The filters the list functions share: `search` (case-insensitive, in the texts a list names),
// `prefix` of the id, owning `worker`, and `include_internal`.
struct ListFilter {
  explicit ListFilter(const Input& in)
      : search(in.string("search")),
        prefix(in.string("prefix")),
        worker(in.string("worker")),
        include_internal(in.boolean("include_internal").value_or(false)),
        needle(search ? lowercase(*search) : std::string()) {}

  // True without a search, or when one of `texts` contains it.
  bool found_in(std::initializer_list<std::string_view> texts) const {
    if (needle.empty()) return true;
    for (std::string_view text : texts)
      if (contains_folded(text, needle)) return true;
    return false;
  }

  const std::optional<std::string> search, prefix, worker;
  const bool include_internal;
  const std::string needle;  // the search, lower case
};

// The `*::info` shape: the detail of the entry named by the required `id`, or not_found.
template <class Find, class Detail, class Missing>
Outcome info_by_id(Engine& engine, const Input& in, const InProcessCall& call, Find find, Detail detail, Missing missing) {
  const std::string id = in.required_string("id");
  Catalog catalog(engine, call.caller_worker_id);
  const auto* entry = (catalog.*find)(id);
  if (!entry) return not_found(missing(id));
  return Outcome::success(to_text((catalog.*detail)(*entry)));
}

json::object wrap(std::string_view key, json::array items) {
  json::object out;
  out[key] = std::move(items);
  return out;
}

// --- engine::functions::* ---

Outcome functions_list(Engine& engine, const Input& in, const InProcessCall& call) {
  const ListFilter filter(in);
  const std::vector<std::string> workers = in.strings("workers").value_or(std::vector<std::string>{});

  Catalog catalog(engine, call.caller_worker_id);
  struct Row {
    int rank;
    const FunctionEntry* function;
  };
  std::vector<Row> rows;
  for (const auto& f : catalog.functions) {
    if (!filter.include_internal && function_is_internal(*f)) continue;
    if (filter.prefix && !starts_with(f->id, *filter.prefix)) continue;
    if (filter.worker || !workers.empty()) {
      const std::string owner = catalog.function_worker_name(f->id);
      if (owner != filter.worker && std::find(workers.begin(), workers.end(), owner) == workers.end()) continue;
    }
    if (!filter.found_in({f->id, f->description})) continue;
    rows.push_back({filter.needle.empty() ? 0 : search_rank(f->id, filter.needle), f.get()});
  }
  // catalog.functions is sorted by id, so a stable sort on the rank keeps ids in order per tier.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.rank < b.rank; });
  json::array out;
  for (const Row& r : rows) out.push_back(catalog.function_summary(*r.function));
  return Outcome::success(to_text(wrap("functions", std::move(out))));
}

Outcome functions_info(Engine& engine, const Input& in, const InProcessCall& call) {
  std::optional<std::string> single = in.string("function_id");
  std::optional<std::vector<std::string>> batch = in.strings("function_ids");
  if (single && batch) return invalid_arguments("pass either `function_id` or `function_ids`, not both");
  if (!single && !batch) return invalid_arguments("missing field `function_id` (or `function_ids` for a batch)");

  Catalog catalog(engine, call.caller_worker_id);
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

Outcome triggers_list(Engine& engine, const Input& in, const InProcessCall& call) {
  const ListFilter filter(in);
  Catalog catalog(engine, call.caller_worker_id);
  json::array out;
  for (const auto& t : catalog.trigger_types) {
    if (!filter.include_internal && starts_with(t->id, "engine::")) continue;
    if (filter.prefix && !starts_with(t->id, *filter.prefix)) continue;
    if (filter.worker && catalog.trigger_type_worker_name(*t) != *filter.worker) continue;
    if (!filter.found_in({t->id, t->description})) continue;
    out.push_back(catalog.trigger_type_summary(*t));
  }
  return Outcome::success(to_text(wrap("triggers", std::move(out))));
}

Outcome triggers_info(Engine& engine, const Input& in, const InProcessCall& call) {
  return info_by_id(engine, in, call, &Catalog::find_trigger_type, &Catalog::trigger_type_detail,
                    [](const std::string& id) { return "Trigger type '" + id + "' is not registered."; });
}

// --- engine::registered-triggers::* (live bindings) ---

Outcome registered_triggers_list(Engine& engine, const Input& in, const InProcessCall& call) {
  const ListFilter filter(in);  // its `prefix` does not apply to bindings
  const std::optional<std::string> trigger_type = in.string("trigger_type");
  const std::optional<std::string> function_id = in.string("function_id");
  Catalog catalog(engine, call.caller_worker_id);
  json::array out;
  for (const TriggerBinding& b : catalog.triggers) {
    if (!filter.include_internal && starts_with(b.function_id, "engine::")) continue;
    if (trigger_type && b.trigger_type != *trigger_type) continue;
    if (function_id && b.function_id != *function_id) continue;
    if (filter.worker && catalog.function_worker_name(b.function_id) != *filter.worker) continue;
    if (!filter.found_in({b.id, b.trigger_type, b.function_id})) continue;
    out.push_back(catalog.registered_trigger_summary(b));
  }
  return Outcome::success(to_text(wrap("registered_triggers", std::move(out))));
}

Outcome registered_triggers_info(Engine& engine, const Input& in, const InProcessCall& call) {
  return info_by_id(engine, in, call, &Catalog::find_trigger, &Catalog::registered_trigger_detail,
                    [](const std::string& id) { return "Registered trigger '" + id + "' was not found."; });
}

using Handler = Outcome (*)(Engine&, const Input&, const InProcessCall&);

void add(InProcessWorker& worker, Engine& engine, const char* id, const char* description, Handler handler) {
  worker.add_function(FunctionSpec{id, description, {}, {}, {}},
                      with_input(id, [&engine, handler](const Input& in, const InProcessCall& call) {
                        return handler(engine, in, call);
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
