// Where the configuration worker keeps its entries (docs/builtins.md §7.2): behind this small
// interface so that the worker's rules (ids, schemas, events) are written once and each adapter
// only persists. `fs` (fs_configuration_store.h) is the default; MemoryConfigurationStore serves
// tests; a `bridge` adapter (forwarding to another engine) would implement the same interface.
//
// The worker calls every method under its own lock, one call at a time, so a store needs no
// locking of its own for these calls; watch()'s callback may come from any thread.
#pragma once
#include <boost/json/value.hpp>

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct ConfigurationStoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Ids are `[a-z0-9_-]{1,64}`, so that they are safe file names for the `fs` adapter.
inline bool valid_configuration_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}

struct ConfigurationEntry {
  std::string id;
  std::string name;
  std::string description;
  boost::json::value schema;  // null: unknown (stores need not keep it; owners register it again)
  boost::json::value value;   // as written: `${VAR}` placeholders are kept
  std::optional<boost::json::value> metadata;

  bool operator==(const ConfigurationEntry&) const = default;
};

// A change made to the stored entries by someone else (a hand edit of a file).
struct ExternalChange {
  enum class Kind { kRegistered, kUpdated, kDeleted };
  Kind kind;
  ConfigurationEntry entry;  // deleted: the entry as it was last seen
};

class ConfigurationStore {
 public:
  virtual ~ConfigurationStore() = default;

  // Every stored entry, read once when the worker starts. Throws ConfigurationStoreError.
  virtual std::vector<ConfigurationEntry> load() = 0;
  // Stores `entry` (new or replacing one of the same id), durably before returning. Throws
  // ConfigurationStoreError, and then nothing changed.
  virtual void put(const ConfigurationEntry& entry) = 0;
  // Removes entry `id` (nothing when absent). Throws ConfigurationStoreError.
  virtual void remove(const std::string& id) = 0;

  // Starts noticing changes made outside this store; `changed` runs (on any thread, with no lock
  // held) when poll_changes() may have something. Stores that cannot change behind the
  // worker's back do nothing.
  virtual void watch(std::function<void()> changed) { (void)changed; }
  // The outside changes since the last call, relative to what load(), put() and remove() saw
  // and wrote (so the worker's own writes never come back as changes).
  virtual std::vector<ExternalChange> poll_changes() { return {}; }
  // Stops watching; `changed` is not called after it returns.
  virtual void close() {}
  // Whether a call may wait on the network (the bridge adapter): the functions then run on
  // threads of their own, never on an event loop (docs/architecture.md "Threads").
  virtual bool remote() const { return false; }
};

// Entries in memory only (tests; and what a store looks like at its simplest).
class MemoryConfigurationStore : public ConfigurationStore {
 public:
  std::vector<ConfigurationEntry> load() override {
    std::vector<ConfigurationEntry> out;
    for (const auto& [id, entry] : entries_) out.push_back(entry);
    return out;
  }
  void put(const ConfigurationEntry& entry) override { entries_[entry.id] = entry; }
  void remove(const std::string& id) override { entries_.erase(id); }

 private:
  std::map<std::string, ConfigurationEntry> entries_;
};

}  // namespace iii
