#include "workers/state/state_triggers.h"

#include <boost/json.hpp>

#include "wire/json_writer.h"

namespace iii {

std::optional<ErrorBody> StateTriggers::activate(const TriggerBinding& binding) {
  static const TriggerConfigReader reader("Invalid state trigger config");
  Binding b{binding, std::nullopt, std::nullopt, {}};
  boost::json::object config;
  if (auto e = reader.parse(binding.config, config)) return e;
  if (auto e = reader.optional_string(config, "scope", b.scope)) return e;
  if (auto e = reader.optional_string(config, "key", b.key)) return e;
  if (auto e = reader.condition(config, b.condition_function_id)) return e;
  bindings_.upsert(std::move(b));
  return std::nullopt;
}

void StateTriggers::fire(std::string_view scope, std::string_view key, const std::function<std::string()>& make_payload,
                         std::string traceparent) {
  std::vector<FireTarget> targets = bindings_.select([&](const Binding& b) {
    return (!b.scope || *b.scope == scope) && (!b.key || *b.key == key);
  });
  if (targets.empty()) return;
  fire_in_sequence(engine_, std::move(targets), make_payload(), "state trigger", {}, {}, std::move(traceparent));
}

std::string state_event_payload(std::string_view event_type, std::string_view scope, std::string_view key,
                                const std::optional<std::string>& old_value,
                                const std::optional<std::string>& new_value) {
  FrameWriter w(64 + scope.size() + key.size() + (old_value ? old_value->size() : 0) +
                (new_value ? new_value->size() : 0));
  w.string("type", "state");
  w.string("event_type", event_type);
  w.string("scope", scope);
  w.string("key", key);
  w.raw("old_value", old_value ? *old_value : "null");
  w.raw("new_value", new_value ? *new_value : "null");
  return w.finish();
}

}  // namespace iii
