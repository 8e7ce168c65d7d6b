// What the `configuration` worker does (docs/builtins.md §7.2), apart from decoding requests:
// the entries (a cache over the ConfigurationStore, with each registered schema compiled once),
// the rules of register / set / get / list / schema, external edits of the store, TTL expiry,
// and the events these produce for the `configuration` triggers.
//
// Every operation takes the service's lock for its whole read-check-write, so two calls on one
// id never interleave and the store sees one call at a time. Operations return the events they
// caused; the caller answers first, then calls announce() (never under the lock).
//
// Entries owned by a built-in (docs/builtins.md §0.3) are published by the built-in supervisor
// through own(): their value is the built-in's live config block, kept in memory only (config.yaml
// stays authoritative), and every new value goes through the owner's Applier (which reconfigures
// or replaces the running built-in) before it is accepted.
//
// Error codes: INVALID_ID, NOT_REGISTERED, SCHEMA_INVALID, SCHEMA_UNAVAILABLE, NOT_FOUND,
// ADAPTER_ERROR, and EXPAND_FAILED (a read whose `${VAR}` has no value and no default), with the
// official engine's messages.
#pragma once
#include <boost/json/value.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error_body.h"
#include "core/invocation_table.h"
#include "workers/configuration/configuration_store.h"
#include "workers/configuration/configuration_triggers.h"
#include "workers/configuration/json_schema.h"

namespace iii {

class Engine;

class ConfigurationService {
 public:
  struct Event {
    const char* event_type;
    ConfigurationEntry entry;
    std::optional<boost::json::value> old_value, new_value;  // nullopt: null
  };
  struct Reply {
    Outcome outcome;
    std::vector<Event> events;
  };
  struct Registration {
    std::string id, name, description;
    boost::json::value schema;
    std::optional<boost::json::value> initial_value;  // absent or null: keep the stored value
    std::optional<boost::json::value> metadata;
  };

  // Applies a new value (expanded) of an owned entry to its built-in; the error refuses it and
  // then nothing changed. Called without the service's lock.
  using Applier = std::function<std::optional<ErrorBody>(const boost::json::value& value)>;

  ConfigurationService(Engine& engine, std::shared_ptr<ConfigurationStore> store, std::chrono::seconds ttl);

  ConfigurationTriggers& triggers() { return triggers_; }

  // Reads the stored entries (throws ConfigurationStoreError) and starts taking external edits.
  // `self` is this service, held weakly by the store's watch callback.
  void open(const std::shared_ptr<ConfigurationService>& self);
  void close();

  Reply register_entry(Registration r);
  Reply set(const std::string& id, boost::json::value value);
  Outcome get(const std::string& id, bool raw);
  Outcome list();
  Outcome schema(const std::string& id);

  // Publishes an entry owned by a built-in (memory only; `apply` takes its later values), or
  // refreshes it: fires configuration:registered, or configuration:updated when it changed.
  void own(ConfigurationEntry entry, Applier apply);
  // Removes an owned entry (its built-in is gone); fires configuration:deleted.
  void disown(const std::string& id);

  // Takes the store's external changes: each one that is valid (expanded, against the entry's
  // schema when known) replaces the cached entry; an invalid one is logged and the entry keeps
  // its value. Fires what changed.
  void apply_external_changes();
  // Deletes the entries whose TTL ran out by `now` and fires configuration:deleted.
  void expire(Clock::time_point now);

  // Fires `events` to the matching triggers.
  void announce(std::vector<Event> events, const std::string& traceparent = {});

 private:
  struct Held {
    ConfigurationEntry entry;
    std::shared_ptr<const JsonSchema> schema;  // null when entry.schema is null
    Applier apply;  // set for an entry a built-in owns
  };
  // An entry with its schema compiled; a schema that does not compile is logged and dropped.
  static Held hold(ConfigurationEntry entry, Applier apply);
  // set() of an owned entry: the owner applies it first.
  Reply set_owned(const std::string& id, boost::json::value value);
  // Violations of `value` (expanded first) against `schema`; empty when valid or when a variable
  // is missing (the raw value is kept and checked again on read).
  static std::vector<std::string> violations(const JsonSchema& schema, const boost::json::value& value);

  const std::shared_ptr<ConfigurationStore> store_;
  ConfigurationTriggers triggers_;
  std::mutex mu_;
  std::mutex apply_mu_;  // one owned value applied at a time (taken before mu_, never inside it)
  std::map<std::string, Held> entries_;  // by id, so list() is sorted
  bool open_ = false;
};

}  // namespace iii
