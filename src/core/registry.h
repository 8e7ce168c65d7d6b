// The live registry: workers, functions, trigger types and trigger bindings (docs/protocol.md §8).
//
// One place owns this state. Reads (routing lookups) take a shared lock; registrations and
// teardowns take it exclusively and return what must be told to other workers, which the caller
// does after the lock is released (a provider may call back into the registry).
// Ownership rules (docs/protocol.md §1.7, §1.9): last writer wins; removal is compare-and-delete on the
// owner, so a stale connection never removes what a fresher one registered.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/endpoint.h"
#include "core/string_map.h"

namespace iii {

struct FunctionEntry {
  std::string id;
  std::string description;      // empty = absent
  std::string request_format;   // raw JSON; empty = absent
  std::string response_format;  // raw JSON; empty = absent
  std::string metadata;         // raw JSON; empty = absent
  bool internal = false;        // metadata.internal == true: hidden from default listings
  std::shared_ptr<Endpoint> owner;
  // The id its worker registered it under, when the engine knows it by another one (a
  // registration prefix or a hook's rename, docs/security.md): calls are delivered with it.
  // Empty: the same as `id`.
  std::string local_id;
  // An HTTP-invoked function (docs/builtins.md, iii-http-functions): the `invocation` object of
  // its registration (raw JSON), and the endpoint that runs its calls instead of the owner.
  std::string invocation;
  std::shared_ptr<Endpoint> delivery;
};

struct TriggerTypeEntry {
  std::string id;
  std::string description;
  std::string trigger_request_format;  // raw JSON; empty = absent
  std::string call_request_format;     // raw JSON; empty = absent
  std::shared_ptr<Endpoint> provider;
};

struct WorkerMetadata {
  std::optional<std::string> name, description, runtime, version, os;
  std::optional<int64_t> pid;
  std::string isolation = "null";  // raw JSON
  std::string telemetry;           // raw JSON; empty = absent
};

struct WorkerEntry {
  std::shared_ptr<Endpoint> endpoint;
  std::string reattach_token;
  WorkerMetadata meta;
  int64_t connected_at_ms = 0;
  std::string ip_address;
};

using BoundTrigger = std::pair<TriggerBinding, std::shared_ptr<Endpoint>>;  // binding + its provider

// What tearing a worker down changed.
struct Teardown {
  std::vector<BoundTrigger> unbound;  // its bindings whose (other) providers must be told
  std::vector<std::string> functions_removed;
  std::vector<std::string> trigger_types_removed;
};

class Registry {
 public:
  // --- workers ---
  void add_worker(WorkerEntry worker);
  // The live endpoint `previous_worker_id` if `token` is its reattach token, else null.
  std::shared_ptr<Endpoint> match_reattach(std::string_view previous_worker_id, std::string_view token) const;
  bool update_worker_metadata(std::string_view worker_id, WorkerMetadata meta);
  std::vector<WorkerEntry> workers() const;
  // Marks `endpoint` dead and removes everything it owns. nullopt if it was already torn down.
  std::optional<Teardown> remove_worker(const std::shared_ptr<Endpoint>& endpoint);

  // --- functions ---
  std::shared_ptr<const FunctionEntry> find_function(std::string_view id) const;
  // Registers or replaces (last writer wins). False when the owner is already torn down.
  bool upsert_function(FunctionEntry entry);
  // Removes `id` only if `owner_worker_id` still owns it.
  bool remove_function(std::string_view id, std::string_view owner_worker_id);
  std::vector<std::shared_ptr<const FunctionEntry>> functions() const;
  // Grows with every change of the functions or trigger types: a cheap way to poll
  // for "has the catalog changed" without listing it (iii-cluster re-announces when it has).
  uint64_t catalog_changes() const { return catalog_changes_.load(std::memory_order_relaxed); }
  // Like upsert_function, but only when no function has that id. False otherwise.
  bool insert_function(FunctionEntry entry);
  // Replaces function entry.id if entry.owner still owns it (its description, formats or
  // metadata changed). False, and nothing changed, otherwise.
  bool replace_own_function(FunctionEntry entry);

  // --- trigger types ---
  // Registers or replaces a type. Returns the bindings the new provider must activate: the live
  // ones of that type and the parked ones, which become live. nullopt when the provider is dead,
  // or with `only_if_absent` when the type has a provider already (checked under the same lock).
  std::optional<std::vector<TriggerBinding>> upsert_trigger_type(TriggerTypeEntry entry, bool only_if_absent = false);
  // Removes type `id` if `provider_worker_id` provides it; its bindings are parked.
  bool remove_trigger_type(std::string_view id, std::string_view provider_worker_id);
  std::shared_ptr<const TriggerTypeEntry> find_trigger_type(std::string_view id) const;
  std::vector<std::shared_ptr<const TriggerTypeEntry>> trigger_types() const;

  // --- trigger bindings ---
  struct AddResult {
    bool refused = false;                // the registering worker is already torn down
    std::shared_ptr<Endpoint> provider;  // null ⇒ parked until the type appears
  };
  // Stores `binding` (replacing one with the same id). `owner` may be null (ownerless binding).
  AddResult add_trigger(TriggerBinding binding, const Endpoint* owner);
  // Removes a live or parked binding (with `owner_worker_id`: only one that worker registered);
  // returns it with its provider (null when it was parked).
  std::optional<BoundTrigger> remove_trigger(std::string_view id,
                                             std::optional<std::string_view> owner_worker_id = std::nullopt);
  // Provider `provider_worker_id` rejected live binding `id`: park it. Returns the binding.
  std::optional<TriggerBinding> park_trigger(std::string_view id, std::string_view provider_worker_id);
  std::optional<TriggerBinding> find_trigger(std::string_view id) const;  // live only
  std::vector<TriggerBinding> triggers() const;                           // live only
  size_t pending_trigger_count() const;

 private:
  static bool owned_by(const std::shared_ptr<Endpoint>& ep, std::string_view worker_id) {
    return ep && ep->worker_id() == worker_id;
  }
  void park_bindings_of_type_locked(std::string_view type_id);

  mutable std::shared_mutex mu_;
  StringMap<WorkerEntry> workers_;
  StringMap<std::shared_ptr<const FunctionEntry>> functions_;
  std::atomic<uint64_t> catalog_changes_{0};
  bool catalog_changed() {  // counts one change of the catalog; true, for `return catalog_changed();`
    catalog_changes_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  StringMap<std::shared_ptr<const TriggerTypeEntry>> trigger_types_;
  StringMap<TriggerBinding> triggers_;          // live bindings
  StringMap<TriggerBinding> pending_triggers_;  // bindings waiting for their type's provider
};

}  // namespace iii
