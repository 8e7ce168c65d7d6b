// The `configuration` trigger type (docs/builtins.md §7.2): bindings with an optional
// `configuration_id` (exact match), an optional `event_types` filter (a subset of
// configuration:registered, configuration:updated, configuration:deleted) and an optional
// `condition_function_id`, fired after an entry changed with
//   {"type":"configuration","event_type","id","name","description","schema",
//    "old_value","new_value","metadata"?}
// (values with their `${VAR}` placeholders expanded). The matching bindings of one event run one
// after another (workers/fire_sequence.h); the binding's metadata reaches its function.
//
// TTL: with ttl > 0, when the last binding naming a configuration id goes away, that id is due
// for deletion ttl later, unless a binding naming it comes back first; expired() reports it once.
//
// Thread-safe; no lock is held while calling into the engine.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "core/invocation_table.h"
#include "workers/configuration/configuration_store.h"
#include "workers/trigger_bindings.h"

namespace iii {

class Engine;

class ConfigurationTriggers {
 public:
  ConfigurationTriggers(Engine& engine, std::chrono::seconds ttl) : engine_(engine), ttl_(ttl) {}

  // Validates the binding's config and stores it. Returns the rejection for a malformed config.
  std::optional<ErrorBody> activate(const TriggerBinding& binding);
  void deactivate(const TriggerBinding& binding);

  // Fires every binding that matches `id` and `event_type` with `payload`. Returns at once.
  void fire(std::string_view id, std::string_view event_type, std::string payload, std::string traceparent = {});

  // The ids whose TTL ran out by `now`, each reported once.
  std::vector<std::string> expired(Clock::time_point now);

  size_t size() const { return bindings_.size(); }

 private:
  struct Binding {
    TriggerBinding binding;
    std::optional<std::string> configuration_id;
    std::vector<std::string> event_types;  // empty: every event type
    std::string condition_function_id;
  };

  Engine& engine_;
  const std::chrono::seconds ttl_;
  BindingList<Binding> bindings_;
  std::mutex mu_;
  std::map<std::string, Clock::time_point> expiries_;  // configuration id → when it goes
};

inline constexpr const char* kConfigurationRegistered = "configuration:registered";
inline constexpr const char* kConfigurationUpdated = "configuration:updated";
inline constexpr const char* kConfigurationDeleted = "configuration:deleted";

// The payload of one event; `old_value` / `new_value` are the stored (unexpanded) values, or
// null pointers for JSON null.
std::string configuration_event_payload(std::string_view event_type, const ConfigurationEntry& entry,
                                        const boost::json::value* old_value, const boost::json::value* new_value);

}  // namespace iii
