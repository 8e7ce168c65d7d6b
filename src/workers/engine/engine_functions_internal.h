// Pieces shared by the files of the iii-engine-functions worker: input decoding with the
// reference's error shape, and Catalog, one consistent-enough snapshot of the registry from which
// every introspection answer is built. Nothing here is on the hot path, so it uses Boost.JSON.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "core/registry.h"
#include "core/string_map.h"
#include "engine/engine.h"
#include "engine/in_process_worker.h"

namespace iii::engine_fn {

namespace json = boost::json;

// --- input ---

// A wrongly typed or missing input field. Reported as
// deserialization_error "Failed to deserialize input for <id>: <what()>".
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The input object of one engine::* call. Fields are optional unless read with required_*();
// absent and null are the same; unknown keys (such as the injected _caller_worker_id) are ignored.
class Input {
 public:
  // null or empty data reads as {}. Anything else but an object throws InputError.
  explicit Input(std::string_view data);

  std::optional<std::string> string(std::string_view key) const;
  std::string required_string(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::vector<std::string>> strings(std::string_view key) const;
  std::optional<int64_t> u32(std::string_view key) const;
  // The raw value, or nullptr when absent or null.
  const json::value* value(std::string_view key) const;
  const json::object& object() const { return object_; }

 private:
  json::object object_;
};

// Throws InputError describing `v` as the wrong type for `key` (serde's wording).
[[noreturn]] void throw_invalid_type(std::string_view key, const json::value& v, std::string_view expected);

using InputBody = std::function<Outcome(const Input&, const InProcessCall&)>;
// A sync handler that decodes the input first and turns InputError into deserialization_error.
SyncFunctionHandler with_input(std::string function_id, InputBody body);
Outcome deserialization_failure(std::string_view function_id, std::string_view detail);

// --- JSON helpers ---

// Raw JSON text as a value; empty or unparsable text is null.
json::value parse_raw(std::string_view raw);
std::string to_text(const json::value& v);
// The part of `id` before its first "::" (the whole id when it has none).
std::string_view first_segment(std::string_view id);
// Lowercases ASCII letters.
std::string lowercase(std::string_view s);
// Case-insensitive substring test; `needle_lower` must already be lowercase.
bool contains_folded(std::string_view haystack, std::string_view needle_lower);
// Compact JSON of `config`, cut to 80 characters plus "…" when longer.
std::string config_summary(std::string_view raw_config);

// --- registry snapshot ---

class Catalog {
 public:
  // With `viewer_worker_id` naming a worker behind RBAC (docs/security.md), the catalog holds only
  // what that worker may see: the functions it may call or owns, the bindings and workers of
  // those functions, and the trigger types it may bind. Anything else looks absent.
  explicit Catalog(Engine& engine, std::string_view viewer_worker_id = {});

  // Sorted by id (workers: unsorted).
  std::vector<WorkerEntry> workers;
  std::vector<std::shared_ptr<const FunctionEntry>> functions;
  std::vector<std::shared_ptr<const TriggerTypeEntry>> trigger_types;
  std::vector<TriggerBinding> triggers;  // live bindings only

  const FunctionEntry* find_function(std::string_view id) const;
  const TriggerTypeEntry* find_trigger_type(std::string_view id) const;
  const TriggerBinding* find_trigger(std::string_view id) const;

  // The display name of a worker: an in-process worker's name, a remote worker's registered
  // metadata name, or nullopt.
  std::optional<std::string> worker_name(const Endpoint* endpoint) const;
  // Name of the worker owning `function_id`, falling back to the id's first "::" segment.
  std::string function_worker_name(std::string_view function_id) const;
  std::string trigger_type_worker_name(const TriggerTypeEntry& type) const;

  json::object function_summary(const FunctionEntry& f) const;
  json::object function_detail(const FunctionEntry& f) const;
  json::object trigger_type_summary(const TriggerTypeEntry& t) const;
  json::object trigger_type_detail(const TriggerTypeEntry& t) const;
  json::object registered_trigger_summary(const TriggerBinding& b) const;
  json::object registered_trigger_detail(const TriggerBinding& b) const;

 private:
  // What a summary and a detail both show first.
  json::object function_fields(const FunctionEntry& f) const;             // id, worker, description
  json::object registered_trigger_fields(const TriggerBinding& b) const;  // id, type, function, worker, config

  void keep_visible_to(const Endpoint& viewer);

  StringMap<std::string> names_;  // worker id → display name, for named workers
};

// A worker's self-reported name or description, made safe to display: control and bidi characters
// removed, cut to 280 characters, trimmed. Empty ⇒ nullopt.
std::optional<std::string> sanitize_worker_text(std::string_view raw);  // engine_functions.cpp

// --- the function groups, each in its own file ---

void add_introspection_functions(InProcessWorker& worker, Engine& engine);         // introspection.cpp
void add_worker_introspection_functions(InProcessWorker& worker, Engine& engine);  // worker_introspection.cpp
void add_availability_trigger_types(InProcessWorker& worker, Engine& engine);      // availability_triggers.cpp

}  // namespace iii::engine_fn
