#include "workers/configuration/bridge_configuration_store.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>


#include "core/json_text.h"
#include "wire/uuid.h"
#include "workers/bridge/remote_engine.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr std::chrono::milliseconds kConnectWait{5000};

std::string string_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

BridgeConfigurationStore::BridgeConfigurationStore(const std::string& url)
    : relay_id_("configuration::bridge::relay::" + new_uuid()), relay_(std::make_shared<Relay>()) {
  // After a reconnect, what changed there meanwhile was not relayed: every entry is read again.
  remote_ = std::make_shared<RemoteEngine>(url, "configuration", 1, [weak = std::weak_ptr<Relay>(relay_)] {
    if (auto relay = weak.lock()) relay->note([](Relay& r) { r.relist = true; });
  });
}

BridgeConfigurationStore::~BridgeConfigurationStore() { close(); }

json::value BridgeConfigurationStore::call(const std::string& function_id, const json::value& request) const {
  Outcome o = remote_->call_and_wait(function_id, json_text::serialize(request));
  if (o.error) throw ConfigurationStoreError(function_id + " on " + remote_->url() + ": " + o.error->code + ": " + o.error->message);
  std::optional<json::value> parsed = json_text::parse(o.result.empty() ? "null" : o.result);
  if (!parsed) throw ConfigurationStoreError(function_id + " on " + remote_->url() + " answered with invalid JSON");
  return std::move(*parsed);
}

std::vector<std::string> BridgeConfigurationStore::list_ids() const {
  const json::value listed = call("configuration::list", json::object());
  const json::value* rows = listed.is_object() ? listed.get_object().if_contains("configurations") : nullptr;
  std::vector<std::string> ids;
  if (rows && rows->is_array())
    for (const json::value& row : rows->get_array())
      if (row.is_object()) ids.push_back(string_of(row.get_object(), "id"));
  return ids;
}

std::optional<ConfigurationEntry> BridgeConfigurationStore::fetch(const std::string& id) const {
  json::value described;
  try {
    described = call("configuration::schema", {{"id", id}});
  } catch (const ConfigurationStoreError& e) {
    if (std::string(e.what()).find(": NOT_FOUND:") != std::string::npos) return std::nullopt;
    throw;
  }
  const json::object* d = described.if_object();
  if (!d) throw ConfigurationStoreError("configuration::schema on " + remote_->url() + " answered something else than an object");
  ConfigurationEntry entry{id, string_of(*d, "name"), string_of(*d, "description"), nullptr, nullptr, std::nullopt};
  if (const json::value* s = d->if_contains("schema")) entry.schema = *s;
  if (const json::value* m = d->if_contains("metadata"); m && !m->is_null()) entry.metadata = *m;
  const json::value value = call("configuration::get", {{"id", id}, {"raw", true}});
  if (const json::object* v = value.if_object(); v && v->if_contains("value")) entry.value = v->at("value");
  return entry;
}

std::vector<ConfigurationEntry> BridgeConfigurationStore::load() {
  if (!remote_->wait_connected(kConnectWait))
    throw ConfigurationStoreError("the engine at " + remote_->url() + " is not reachable");
  std::vector<ConfigurationEntry> out;
  for (const std::string& id : list_ids())
    if (std::optional<ConfigurationEntry> e = fetch(id)) out.push_back(std::move(*e));
  std::lock_guard lock(mu_);
  for (const ConfigurationEntry& e : out) known_[e.id] = e;
  return out;
}

void BridgeConfigurationStore::put(const ConfigurationEntry& entry) {
  std::optional<ConfigurationEntry> known;
  {
    std::lock_guard lock(mu_);
    if (auto it = known_.find(entry.id); it != known_.end()) known = it->second;
  }
  const json::value schema = !entry.schema.is_null() ? entry.schema
                             : known && !known->schema.is_null() ? known->schema
                                                                 : json::value(json::object());
  if (known && known->name == entry.name && known->description == entry.description && known->schema == schema &&
      known->metadata == entry.metadata) {
    call("configuration::set", {{"id", entry.id}, {"value", entry.value}});  // only the value changed
  } else {
    json::object request{{"id", entry.id}, {"name", entry.name}, {"description", entry.description},
                         {"schema", schema}, {"initial_value", entry.value}};
    if (entry.metadata) request["metadata"] = *entry.metadata;
    call("configuration::register", request);
  }
  ConfigurationEntry stored = entry;
  stored.schema = schema;
  std::lock_guard lock(mu_);
  known_[entry.id] = std::move(stored);
}

void BridgeConfigurationStore::remove(const std::string& id) {
  throw ConfigurationStoreError("the bridge adapter cannot delete `" + id + "` on " + remote_->url() +
                                " (the remote engine has no delete function; its own TTL removes entries)");
}

void BridgeConfigurationStore::watch(std::function<void()> changed) {
  {
    std::lock_guard lock(relay_->mu);
    relay_->changed = std::move(changed);
  }
  // The relay holds only the shared part, weakly: it may outlive this store on a thread the
  // connection did not manage to join.
  remote_->expose(relay_id_, [weak = std::weak_ptr<Relay>(relay_)](const std::string& payload) {
    std::optional<json::value> event = json_text::parse(payload);
    const json::object* o = event ? event->if_object() : nullptr;
    const std::string id = o ? string_of(*o, "id") : std::string();
    auto relay = weak.lock();
    if (id.empty() || !relay) return Outcome::success("null");
    const bool deleted = string_of(*o, "event_type") == "configuration:deleted";
    relay->note([&](Relay& r) { r.touched[id] = deleted; });
    return Outcome::success("null");
  });
  remote_->register_trigger("configuration", relay_id_, "{}");
}

std::vector<ExternalChange> BridgeConfigurationStore::poll_changes() {
  std::map<std::string, bool> touched;
  bool relist = false;
  {
    std::lock_guard lock(relay_->mu);
    touched.swap(relay_->touched);
    std::swap(relist, relay_->relist);
  }
  if (relist) {
    // Every entry there now, and every one known here (a missing one reads as deleted below).
    try {
      for (std::string& id : list_ids()) touched.emplace(std::move(id), false);
      std::lock_guard lock(mu_);
      for (const auto& [id, entry] : known_) touched.emplace(id, false);
    } catch (const ConfigurationStoreError& e) {
      spdlog::warn("configuration: entries of {} not read again after the reconnect yet: {}", remote_->url(), e.what());
      std::lock_guard lock(relay_->mu);
      relay_->relist = true;
    }
  }
  std::vector<ExternalChange> out;
  std::map<std::string, bool> failed;
  for (const auto& [id, deleted] : touched) {
    // The event names what changed; what the remote holds now (raw) is what counts.
    std::optional<ConfigurationEntry> now;
    if (!deleted) {
      try {
        now = fetch(id);
      } catch (const ConfigurationStoreError& e) {
        spdlog::warn("configuration: the change of {} on {} is not read yet: {}", id, remote_->url(), e.what());
        failed[id] = deleted;  // read again at the next poll
        continue;
      }
    }
    std::lock_guard lock(mu_);
    auto it = known_.find(id);
    if (!now) {
      if (it == known_.end()) continue;
      out.push_back(ExternalChange{ExternalChange::Kind::kDeleted, it->second});
      known_.erase(it);
      continue;
    }
    if (it != known_.end() && it->second == *now) continue;  // what this store wrote or saw already
    out.push_back(ExternalChange{it == known_.end() ? ExternalChange::Kind::kRegistered : ExternalChange::Kind::kUpdated, *now});
    known_[id] = std::move(*now);
  }
  if (!failed.empty()) {
    std::lock_guard lock(relay_->mu);
    relay_->touched.merge(failed);
  }
  return out;
}

void BridgeConfigurationStore::close() {
  {
    std::lock_guard lock(relay_->mu);
    relay_->changed = nullptr;
  }
  remote_->shutdown();  // joins the connection's threads: the relay does not run after this
}

}  // namespace iii
