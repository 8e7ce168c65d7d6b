// The `state` trigger type (docs/builtins.md §2.3): bindings with optional exact `scope` / `key`
// filters and an optional `condition_function_id`, fired after a state write succeeded with
//   {"type":"state","event_type":"state:created|state:updated|state:deleted",
//    "scope":..,"key":..,"old_value":..|null,"new_value":..|null}
// The matching bindings of one write run one after another (each waits for the previous handler
// to answer), in the order they were activated; a failing handler is logged and never undoes the
// write. Activating an id again replaces its binding (and keeps its place).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "workers/trigger_bindings.h"

namespace iii {

class Engine;

class StateTriggers {
 public:
  explicit StateTriggers(Engine& engine) : engine_(engine) {}

  // Validates the binding's config and stores it. Returns the rejection for a malformed config.
  std::optional<ErrorBody> activate(const TriggerBinding& binding);
  void deactivate(const TriggerBinding& binding) { bindings_.remove(binding.id); }

  // Fires every binding matching (scope, key) with the payload `make_payload` returns, which is
  // only called when one matches (most writes have no trigger to pay for). Returns at once: the
  // handlers run as the engine delivers them. Never call with a lock held (it calls into the
  // engine).
  void fire(std::string_view scope, std::string_view key, const std::function<std::string()>& make_payload,
            std::string traceparent = {});

  size_t size() const { return bindings_.size(); }

 private:
  struct Binding {
    TriggerBinding binding;
    std::optional<std::string> scope, key;
    std::string condition_function_id;
  };

  Engine& engine_;
  BindingList<Binding> bindings_;
};

// The trigger payload of one state event. `old_value` / `new_value` are raw JSON or nullopt (null).
std::string state_event_payload(std::string_view event_type, std::string_view scope, std::string_view key,
                                const std::optional<std::string>& old_value,
                                const std::optional<std::string>& new_value);

}  // namespace iii
