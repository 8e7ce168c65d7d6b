// The `iii-state` built-in (alias `state`; docs/builtins.md §2): a key-value store addressed by
// (scope, key) with the functions state::set / get / delete / update / list / list_groups (plus
// state::list_keys from the standalone worker) and the `state` trigger type.
//
// The store opens in start() (MemoryKvStore, or a SqliteKvStore for store_method file_based) and
// closes in stop(); calls outside that window fail with the function's error code.
//
// Usage: the config loader creates it from state_builtin() like every built-in.
#pragma once
#include <memory>

#include "store/kv_store.h"
#include "workers/builtin.h"
#include "workers/state/state_config.h"

namespace iii {

inline constexpr const char* kStateWorkerName = "iii-state";

// name "iii-state", alias "state"; the factory parses the block (state_config.h).
BuiltinDescriptor state_builtin();

// A state worker on a store of the caller's choosing (tests): start() opens `store` instead of
// the one the config describes.
std::unique_ptr<BuiltinWorker> make_state_worker(Engine& engine, StateConfig config, std::shared_ptr<KvStore> store);

}  // namespace iii
