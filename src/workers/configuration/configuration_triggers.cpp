#include "workers/configuration/configuration_triggers.h"

#include <boost/json.hpp>

#include <algorithm>

#include "core/json_text.h"
#include "engine/engine.h"
#include "wire/json_writer.h"
#include "workers/configuration/value_template.h"

namespace iii {

namespace json = boost::json;

namespace {

const TriggerConfigReader& reader() {
  static const TriggerConfigReader r("Invalid configuration trigger config");
  return r;
}

// `configuration_id` of a binding's config, read leniently (a deactivation never fails).
std::optional<std::string> configuration_id_of(const TriggerBinding& binding) {
  json::object config;
  std::optional<std::string> id;
  if (reader().parse(binding.config, config) || reader().optional_string(config, "configuration_id", id)) return std::nullopt;
  return id;
}

}  // namespace

std::optional<ErrorBody> ConfigurationTriggers::activate(const TriggerBinding& binding) {
  Binding b{binding, std::nullopt, {}, {}};
  json::object config;
  if (auto e = reader().parse(binding.config, config)) return e;
  if (auto e = reader().optional_string(config, "configuration_id", b.configuration_id)) return e;
  if (auto e = reader().condition(config, b.condition_function_id)) return e;
  if (const json::value* types = config.if_contains("event_types"); types && !types->is_null()) {
    if (!types->is_array()) return reader().reject("`event_types` must be a list of event types");
    for (const json::value& t : types->get_array()) {
      const bool known = t.is_string() && (t.get_string() == kConfigurationRegistered ||
                                           t.get_string() == kConfigurationUpdated ||
                                           t.get_string() == kConfigurationDeleted);
      if (!known)
        return reader().reject("`event_types` may only hold configuration:registered, configuration:updated and "
                               "configuration:deleted, got " + json_text::serialize(t));
      b.event_types.emplace_back(t.get_string());
    }
  }
  if (b.configuration_id) {
    std::lock_guard lock(mu_);
    expiries_.erase(*b.configuration_id);  // someone listens again
  }
  bindings_.upsert(std::move(b));
  return std::nullopt;
}

void ConfigurationTriggers::deactivate(const TriggerBinding& binding) {
  bindings_.remove(binding.id);
  const std::optional<std::string> id = configuration_id_of(binding);
  if (!id || ttl_.count() == 0) return;
  const size_t left = bindings_.select([&](const Binding& b) { return b.configuration_id == id; }).size();
  std::lock_guard lock(mu_);
  if (left == 0) expiries_[*id] = Clock::now() + ttl_;
}

void ConfigurationTriggers::fire(std::string_view id, std::string_view event_type, std::string payload,
                                 std::string traceparent) {
  std::vector<FireTarget> targets = bindings_.select([&](const Binding& b) {
    return (!b.configuration_id || *b.configuration_id == id) &&
           (b.event_types.empty() || std::find(b.event_types.begin(), b.event_types.end(), event_type) != b.event_types.end());
  });
  fire_in_sequence(engine_, std::move(targets), std::move(payload), "configuration trigger", {}, {}, std::move(traceparent));
}

std::vector<std::string> ConfigurationTriggers::expired(Clock::time_point now) {
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (auto it = expiries_.begin(); it != expiries_.end();) {
    if (it->second <= now) {
      out.push_back(it->first);
      it = expiries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::string configuration_event_payload(std::string_view event_type, const ConfigurationEntry& entry,
                                        const json::value* old_value, const json::value* new_value) {
  // Subscribers see values as configuration::get returns them; a variable that is missing is
  // left as written (the read path is where that is reported).
  auto expanded = [](const json::value* v) {
    return v ? json_text::serialize(value_template::expand(*v).value) : std::string("null");
  };
  FrameWriter w;
  w.string("type", "configuration");
  w.string("event_type", event_type);
  w.string("id", entry.id);
  w.string("name", entry.name);
  w.string("description", entry.description);
  w.raw("schema", json_text::serialize(entry.schema));
  w.raw("old_value", expanded(old_value));
  w.raw("new_value", expanded(new_value));
  if (entry.metadata) w.raw("metadata", json_text::serialize(*entry.metadata));
  return w.finish();
}

}  // namespace iii
