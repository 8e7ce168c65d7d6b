// What the iii-state functions and its trigger type share: the config, the store (open between
// start() and stop()) and the trigger bindings. Internal to src/workers/state/.
#pragma once
#include <memory>

#include "engine/in_process_worker.h"
#include "store/kv_store.h"
#include "workers/bridge/remote_engine.h"
#include "workers/builtin.h"
#include "workers/state/state_config.h"
#include "workers/state/state_triggers.h"

namespace iii {

class StateService {
 public:
  StateService(Engine& engine, StateConfig config) : config_(std::move(config)), triggers_(engine) {}

  const StateConfig& config() const { return config_; }
  StateTriggers& triggers() { return triggers_; }

  // The open store, or null when the worker is not running. Callers keep the returned pointer
  // for the duration of one call, so close() never pulls a store out from under a call.
  std::shared_ptr<KvStore> store() const { return store_.get(); }
  // With the bridge adapter, the engine every state::* call runs on (store() is then null).
  std::shared_ptr<RemoteEngine> remote() const { return remote_.get(); }
  void open_remote(std::shared_ptr<RemoteEngine> remote) { remote_.set(std::move(remote)); }

  // Calls use the store's asynchronous forms (store/kv_store.h), so none waits on a network
  // thread: the embedded stores answer inline, Redis from its client's thread.
  void open(std::shared_ptr<KvStore> store) { store_.set(std::move(store)); }
  void close() {
    open(nullptr);
    remote_.set(nullptr);
  }

 private:
  const StateConfig config_;
  StateTriggers triggers_;
  SharedSlot<KvStore> store_;
  SharedSlot<RemoteEngine> remote_;
};

// Registers state::set, get, delete, update, list, list_groups and list_keys on `worker`.
void add_state_functions(InProcessWorker& worker, const std::shared_ptr<StateService>& service);

}  // namespace iii
