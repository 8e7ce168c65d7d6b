#include "workers/configuration/configuration_service.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "core/json_text.h"
#include "workers/configuration/value_template.h"

namespace iii {

namespace json = boost::json;

namespace {

std::string quoted(const std::string& id) { return "'" + id + "'"; }

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

// {id, name, description, schema, value?, metadata?}: the stored entry (register) or its schema
// view (list, schema: never the value).
json::object view(const ConfigurationEntry& e, bool with_value) {
  json::object o;
  o["id"] = e.id;
  o["name"] = e.name;
  o["description"] = e.description;
  o["schema"] = e.schema;
  if (with_value) o["value"] = e.value;
  if (e.metadata) o["metadata"] = *e.metadata;
  return o;
}

Outcome invalid_id(const std::string& id) {
  return Outcome::failure("INVALID_ID", "invalid configuration id " + quoted(id) + ": must match [a-z0-9_-]{1,64}");
}

Outcome not_found(const std::string& id) {
  return Outcome::failure("NOT_FOUND", "configuration " + quoted(id) + " not found");
}

Outcome schema_invalid(const std::vector<std::string>& errors) {
  return Outcome::failure("SCHEMA_INVALID", "schema validation failed: " + joined(errors));
}

// A schema as the entry keeps it: compiled, or null for a null schema. Throws JsonSchemaError.
std::shared_ptr<const JsonSchema> compiled(const json::value& schema) {
  return schema.is_null() ? nullptr : JsonSchema::compile(schema);
}

}  // namespace

ConfigurationService::ConfigurationService(Engine& engine, std::shared_ptr<ConfigurationStore> store,
                                           std::chrono::seconds ttl)
    : store_(std::move(store)), triggers_(engine, ttl) {}

std::vector<std::string> ConfigurationService::violations(const JsonSchema& schema, const json::value& value) {
  value_template::Expanded applied = value_template::expand(value);
  if (!applied.missing.empty()) return {};
  return schema.validate(applied.value);
}

ConfigurationService::Held ConfigurationService::hold(ConfigurationEntry entry, Applier apply) {
  Held held{std::move(entry), nullptr, std::move(apply)};
  try {
    held.schema = compiled(held.entry.schema);
  } catch (const JsonSchemaError& e) {
    spdlog::warn("configuration: the schema of {} is not used: {}", held.entry.id, e.what());
    held.entry.schema = nullptr;
  }
  return held;
}

void ConfigurationService::open(const std::shared_ptr<ConfigurationService>& self) {
  std::lock_guard lock(mu_);
  for (ConfigurationEntry& entry : store_->load()) {
    const std::string id = entry.id;
    entries_[id] = hold(std::move(entry), {});
  }
  open_ = true;
  std::weak_ptr<ConfigurationService> weak = self;
  store_->watch([weak] {
    if (auto service = weak.lock()) service->apply_external_changes();
  });
}

void ConfigurationService::close() {
  store_->close();
  std::lock_guard lock(mu_);
  open_ = false;
}

ConfigurationService::Reply ConfigurationService::register_entry(Registration r) {
  if (!valid_configuration_id(r.id)) return {invalid_id(r.id), {}};
  std::shared_ptr<const JsonSchema> schema;
  try {
    schema = compiled(r.schema);
  } catch (const JsonSchemaError& e) {
    return {Outcome::failure("SCHEMA_INVALID", e.what()), {}};
  }
  if (r.initial_value && r.initial_value->is_null()) r.initial_value.reset();
  // A given value is checked; a kept one is not, so that a tightened schema always registers
  // (the next set() enforces it).
  if (r.initial_value && schema)
    if (auto errors = violations(*schema, *r.initial_value); !errors.empty()) return {schema_invalid(errors), {}};

  std::lock_guard lock(mu_);
  auto it = entries_.find(r.id);
  const bool existed = it != entries_.end();
  if (existed && it->second.apply)
    return {Outcome::failure("ADAPTER_ERROR", "configuration " + quoted(r.id) +
                                                  " is the config block of a built-in: change its value with "
                                                  "configuration::set, or in config.yaml"),
            {}};
  Held held{ConfigurationEntry{r.id, std::move(r.name), std::move(r.description), std::move(r.schema),
                               r.initial_value ? std::move(*r.initial_value) : existed ? it->second.entry.value : json::value(),
                               std::move(r.metadata)},
            std::move(schema), {}};
  try {
    store_->put(held.entry);
  } catch (const ConfigurationStoreError& e) {
    return {Outcome::failure("ADAPTER_ERROR", e.what()), {}};
  }
  Event event{existed ? kConfigurationUpdated : kConfigurationRegistered, held.entry,
              existed ? std::optional<json::value>(it->second.entry.value) : std::nullopt, held.entry.value};
  Outcome outcome = Outcome::success(json_text::serialize(view(held.entry, true)));
  entries_[held.entry.id] = std::move(held);
  return {std::move(outcome), {std::move(event)}};
}

ConfigurationService::Reply ConfigurationService::set(const std::string& id, json::value value) {
  if (!valid_configuration_id(id)) return {invalid_id(id), {}};
  bool owned = false;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    owned = it != entries_.end() && it->second.apply;
  }
  if (owned) return set_owned(id, std::move(value));
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end())
    return {Outcome::failure("NOT_REGISTERED",
                             "configuration " + quoted(id) + " is not registered; call configuration::register first"),
            {}};
  Held& held = it->second;
  if (!held.schema)
    return {Outcome::failure("SCHEMA_UNAVAILABLE", "configuration " + quoted(id) +
                                                       " has no schema available yet; the owning worker must register "
                                                       "before values can be set"),
            {}};
  if (auto errors = violations(*held.schema, value); !errors.empty()) return {schema_invalid(errors), {}};
  ConfigurationEntry next = held.entry;
  next.value = std::move(value);
  try {
    store_->put(next);
  } catch (const ConfigurationStoreError& e) {
    return {Outcome::failure("ADAPTER_ERROR", e.what()), {}};
  }
  json::value old_value = std::exchange(held.entry, std::move(next)).value;
  json::object answer;
  answer["old_value"] = old_value;
  answer["new_value"] = held.entry.value;
  return {Outcome::success(json_text::serialize(answer)),
          {Event{kConfigurationUpdated, held.entry, std::move(old_value), held.entry.value}}};
}

Outcome ConfigurationService::get(const std::string& id, bool raw) {
  Held held;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return not_found(id);
    held = it->second;
  }
  json::object answer;
  answer["id"] = id;
  if (raw) {
    answer["value"] = held.entry.value;
    return Outcome::success(json_text::serialize(answer));
  }
  value_template::Expanded applied = value_template::expand(held.entry.value);
  if (!applied.missing.empty()) {
    std::string vars;
    for (const auto& v : applied.missing) vars += (vars.empty() ? "" : ", ") + v;
    spdlog::error("configuration: {} references environment variable(s) with no value and no default: {}", id, vars);
    return Outcome::failure("EXPAND_FAILED", "configuration " + quoted(id) +
                                                 " references unset environment variable(s) with no default: " + vars);
  }
  // The stored value was checked with the environment of its write; the one of this read may
  // make it invalid. A null value is "none yet" (register without initial_value), never checked.
  if (held.schema && !held.entry.value.is_null())
    if (auto errors = held.schema->validate(applied.value); !errors.empty()) {
      spdlog::error("configuration: {} is invalid after environment expansion: {}", id, joined(errors));
      return schema_invalid(errors);
    }
  answer["value"] = std::move(applied.value);
  return Outcome::success(json_text::serialize(answer));
}

Outcome ConfigurationService::list() {
  json::array rows;
  std::lock_guard lock(mu_);
  for (const auto& [id, held] : entries_) rows.push_back(view(held.entry, false));
  return Outcome::success(json_text::serialize(json::object{{"configurations", std::move(rows)}}));
}

Outcome ConfigurationService::schema(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return not_found(id);
  return Outcome::success(json_text::serialize(view(it->second.entry, false)));
}

void ConfigurationService::apply_external_changes() {
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    if (!open_) return;
    std::vector<ExternalChange> changes;
    try {
      changes = store_->poll_changes();
    } catch (const ConfigurationStoreError& e) {
      spdlog::warn("configuration: external changes not read: {}", e.what());
      return;
    }
    for (ExternalChange& change : changes) {
      const std::string id = change.entry.id;  // a copy: the entry is moved from below
      auto it = entries_.find(id);
      if (change.kind == ExternalChange::Kind::kDeleted) {
        if (it == entries_.end()) continue;
        spdlog::info("configuration: dropped {} whose file was removed", id);
        events.push_back(Event{kConfigurationDeleted, it->second.entry, it->second.entry.value, std::nullopt});
        entries_.erase(it);
        continue;
      }
      if (it != entries_.end() && it->second.apply) {
        spdlog::warn("configuration: the file of {} is ignored: it is a built-in's block, set in config.yaml or with "
                     "configuration::set", id);
        continue;
      }
      if (it != entries_.end() && it->second.schema) {
        change.entry.schema = nullptr;  // files do not hold it: the owner's stays (below)
      }
      Held next = hold(std::move(change.entry), {});
      if (it != entries_.end() && it->second.schema) {
        next.entry.schema = it->second.entry.schema;
        next.schema = it->second.schema;
      }
      if (next.schema) {
        value_template::Expanded applied = value_template::expand(next.entry.value);
        std::vector<std::string> errors;
        if (!applied.missing.empty()) errors.push_back("unset environment variable(s) with no default");
        else errors = next.schema->validate(applied.value);
        if (!errors.empty()) {
          spdlog::warn("configuration: the edit of {} is rejected, it keeps its previous value: {}", id, joined(errors));
          continue;
        }
      }
      const bool existed = it != entries_.end();
      if (existed && it->second.entry == next.entry) continue;
      spdlog::info("configuration: {} {} from its file", existed ? "reloaded" : "loaded", id);
      events.push_back(Event{existed ? kConfigurationUpdated : kConfigurationRegistered, next.entry,
                             existed ? std::optional<json::value>(it->second.entry.value) : std::nullopt,
                             next.entry.value});
      entries_[id] = std::move(next);
    }
  }
  announce(std::move(events));
}

void ConfigurationService::expire(Clock::time_point now) {
  std::vector<Event> events;
  for (const std::string& id : triggers_.expired(now)) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.apply) continue;
    try {
      store_->remove(id);
    } catch (const ConfigurationStoreError& e) {
      spdlog::error("configuration: {} not expired: {}", id, e.what());
      continue;
    }
    spdlog::info("configuration: {} deleted, no trigger has watched it for its TTL", id);
    events.push_back(Event{kConfigurationDeleted, it->second.entry, it->second.entry.value, std::nullopt});
    entries_.erase(it);
  }
  announce(std::move(events));
}

ConfigurationService::Reply ConfigurationService::set_owned(const std::string& id, json::value value) {
  std::lock_guard apply_lock(apply_mu_);  // two sets of one block never interleave
  Applier apply;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.apply) return {not_found(id), {}};
    if (it->second.schema)
      if (auto errors = violations(*it->second.schema, value); !errors.empty()) return {schema_invalid(errors), {}};
    apply = it->second.apply;
  }
  value_template::Expanded applied = value_template::expand(value);
  if (!applied.missing.empty()) {
    std::string vars;
    for (const auto& v : applied.missing) vars += (vars.empty() ? "" : ", ") + v;
    return {Outcome::failure("EXPAND_FAILED", "configuration " + quoted(id) +
                                                  " references unset environment variable(s) with no default: " + vars),
            {}};
  }
  // The built-in is reconfigured (or replaced) before the value is accepted: a value it refuses
  // leaves it running as it was.
  if (std::optional<ErrorBody> refused = apply(applied.value))
    return {Outcome{{}, std::move(refused)}, {}};
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return {not_found(id), {}};
  json::value old_value = std::exchange(it->second.entry.value, std::move(value));
  json::object answer;
  answer["old_value"] = old_value;
  answer["new_value"] = it->second.entry.value;
  return {Outcome::success(json_text::serialize(answer)),
          {Event{kConfigurationUpdated, it->second.entry, std::move(old_value), it->second.entry.value}}};
}

void ConfigurationService::own(ConfigurationEntry entry, Applier apply) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    Held held = hold(std::move(entry), std::move(apply));
    const std::string id = held.entry.id;
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      events.push_back(Event{kConfigurationRegistered, held.entry, std::nullopt, held.entry.value});
    } else if (!(it->second.entry == held.entry)) {
      events.push_back(Event{kConfigurationUpdated, held.entry, it->second.entry.value, held.entry.value});
    }
    entries_[id] = std::move(held);
  }
  announce(std::move(events));
}

void ConfigurationService::disown(const std::string& id) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.apply) return;
    events.push_back(Event{kConfigurationDeleted, it->second.entry, it->second.entry.value, std::nullopt});
    entries_.erase(it);
  }
  announce(std::move(events));
}

void ConfigurationService::announce(std::vector<Event> events, const std::string& traceparent) {
  for (const Event& e : events) {
    const json::value* old_value = e.old_value ? &*e.old_value : nullptr;
    const json::value* new_value = e.new_value ? &*e.new_value : nullptr;
    triggers_.fire(e.entry.id, e.event_type, configuration_event_payload(e.event_type, e.entry, old_value, new_value),
                   traceparent);
  }
}

}  // namespace iii
