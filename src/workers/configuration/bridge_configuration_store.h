// The `bridge` adapter of the configuration worker (docs/builtins.md §10.3): the entries are
// another engine's. Every read and write is that engine's configuration::* function, through a
// connection of this engine (RemoteEngine); its `configuration` trigger, bound at watch() to a
// function this connection exposes, tells this store of changes made there (by its own callers,
// by hand edits of its files, or by other engines bridged to it). Changes this store wrote
// itself do not come back as external changes: an event is compared with what this store last
// loaded or wrote.
//
// After a reconnect every entry is read again (what changed meanwhile was not relayed).
//
// The remote has no delete function: remove() fails with ADAPTER_ERROR (TTL deletions are the
// remote engine's own). Schemas are the remote's: put() registers the entry there with its
// value, where it is validated again.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "workers/configuration/configuration_store.h"

namespace iii {

class RemoteEngine;

class BridgeConfigurationStore : public ConfigurationStore {
 public:
  explicit BridgeConfigurationStore(const std::string& url);
  ~BridgeConfigurationStore() override;
  bool remote() const override { return true; }

  // What is special here, the remote's changes: watch() binds the remote's `configuration`
  // trigger to the relay this connection exposes; poll_changes() answers the entries the remote
  // announced since the last call, read there now, minus what this store wrote or saw already;
  // close() closes the connection (joining its threads: the relay never runs after it).
  void watch(std::function<void()> changed) override;
  std::vector<ExternalChange> poll_changes() override;
  void close() override;

  // Waits up to 5 s for the connection, then reads every entry there (raw values).
  std::vector<ConfigurationEntry> load() override;
  // configuration::set there when only the value changed, else configuration::register.
  void put(const ConfigurationEntry& entry) override;
  // Always throws: the remote has no delete function.
  void remove(const std::string& id) override;

 private:
  // The remote's answer to `function_id`, parsed; throws ConfigurationStoreError.
  boost::json::value call(const std::string& function_id, const boost::json::value& request) const;
  // The ids of every entry the remote holds. Throws ConfigurationStoreError.
  std::vector<std::string> list_ids() const;
  // The entry `id` as the remote holds it now (raw value), or nullopt when it has none.
  std::optional<ConfigurationEntry> fetch(const std::string& id) const;

  std::shared_ptr<RemoteEngine> remote_;
  const std::string relay_id_;
  // What the relay (on the connection's thread) shares with poll_changes().
  struct Relay {
    std::mutex mu;
    std::function<void()> changed;
    std::map<std::string, bool> touched;  // ids the remote announced since the last poll → deleted?
    bool relist = false;                  // reconnected: read every entry again

    // Applies `edit` under the lock, then tells the worker (outside it) that there is news.
    template <class Edit>
    void note(Edit edit) {
      std::function<void()> notify;
      {
        std::lock_guard lock(mu);
        edit(*this);
        notify = changed;
      }
      if (notify) notify();
    }
  };
  const std::shared_ptr<Relay> relay_;
  std::mutex mu_;                                    // guards known_
  std::map<std::string, ConfigurationEntry> known_;  // what load(), put() and poll_changes() saw
};

}  // namespace iii
