// The `config:` block of the iii-cron built-in (docs/builtins.md §4.1):
//
//   adapter:                   # default {name: kv}; the lock backend
//     name: kv                 # kv | redis
//     config:                  # kv:
//       lock_ttl_ms: 30000     # accepted, range-checked, unused (see below)
//       lock_index: cron_locks # accepted, unused
//       store_method: in_memory | file_based   # accepted, unused
//       file_path: ./data/cron_locks.db        # accepted, unused
//       save_interval_ms: 5000                 # accepted, range-checked, unused
//   # or: adapter: { name: redis, config: { redis_url: redis://localhost:6379 } }
//
// Upstream takes a lock per tick so that several engines sharing a store run each tick once. The
// kv locks are process-local, so on one engine they only guard against overlapping runs — which
// the scheduler here guarantees without a lock (a tick is skipped while the previous run of the
// same job is in flight). The kv keys are therefore validated and otherwise ignored. `redis`
// makes every engine on that server run each tick of a job once between them (cron_lock.h).
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>

namespace iii {

struct CronConfig {
  uint64_t lock_ttl_ms = 30000;
  std::string lock_index = "cron_locks";
  std::string redis_url;  // set: the redis lock adapter
};

// Parses a config block (null = defaults). Unknown keys, wrong types and unsupported adapters
// throw BuiltinConfigError naming the key.
CronConfig parse_cron_config(const boost::json::value& config);

}  // namespace iii
