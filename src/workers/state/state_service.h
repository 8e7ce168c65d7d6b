// What the iii-state functions and its trigger type share: the config, the store (open between
// start() and stop()) and the trigger bindings. Internal to src/workers/state/.
#pragma once
#include <memory>
#include <mutex>

#include "engine/in_process_worker.h"
#include "store/kv_store.h"
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
  std::shared_ptr<KvStore> store() const {
    std::lock_guard lock(mu_);
    return store_;
  }
  void open(std::shared_ptr<KvStore> store) {
    std::lock_guard lock(mu_);
    store_ = std::move(store);
  }
  void close() { open(nullptr); }

 private:
  const StateConfig config_;
  StateTriggers triggers_;
  mutable std::mutex mu_;
  std::shared_ptr<KvStore> store_;
};

// Registers state::set, get, delete, update, list, list_groups and list_keys on `worker`.
void add_state_functions(InProcessWorker& worker, const std::shared_ptr<StateService>& service);

}  // namespace iii
