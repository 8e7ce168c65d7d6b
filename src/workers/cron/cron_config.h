// The `config:` block of the iii-cron built-in (docs/builtins.md §4.1):
//
//   adapter:                   # default {name: kv}; the lock backend
//     name: kv                 # kv only; redis is not supported yet
//     config:
//       lock_ttl_ms: 30000     # accepted, range-checked, unused (see below)
//       lock_index: cron_locks # accepted, unused
//       store_method: in_memory | file_based   # accepted, unused
//       file_path: ./data/cron_locks.db        # accepted, unused
//       save_interval_ms: 5000                 # accepted, range-checked, unused
//
// Upstream takes a lock per tick so that several engines sharing a store run each tick once. The
// kv locks are process-local, so on one engine they only guard against overlapping runs — which
// the scheduler here guarantees without a lock (a tick is skipped while the previous run of the
// same job is in flight). The kv keys are therefore validated and otherwise ignored. `redis`
// (cross-instance exactly-once) is refused rather than silently running every job on every
// instance.
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>

namespace iii {

struct CronConfig {
  uint64_t lock_ttl_ms = 30000;
  std::string lock_index = "cron_locks";
};

// Parses a config block (null = defaults). Unknown keys, wrong types and unsupported adapters
// throw BuiltinConfigError naming the key.
CronConfig parse_cron_config(const boost::json::value& config);

}  // namespace iii
