// The `config:` block of the iii-queue built-in (docs/builtins.md §3.2):
//
//   adapter:                        # default {name: builtin}
//     name: builtin                 # builtin | redis | bridge ({bridge_url}); rabbitmq is not supported yet
//     config:                       # for builtin:
//       store_method: file_based    # file_based (default here) | in_memory
//       file_path: ./data/queue_store
//       save_interval_ms: 5000      # accepted, ignored: every enqueue is on disk before it answers
//     config:                       # for redis (queues shared by every engine on that server):
//       redis_url: redis://localhost:6379
//   max_message_bytes: 1048576      # largest `data` accepted by an enqueue or publish (default 1 MiB)
//   queue_configs:
//     orders:                       # a named queue (`default` always exists)
//       max_retries: 3              # total delivery attempts before the dead-letter queue (0 = 1 attempt)
//       backoff_ms: 1000            # retry n waits backoff_ms * 2^(n-1)
//       concurrency: 10             # deliveries in flight at once
//       type: standard              # standard | fifo
//       message_group_field: user   # fifo only (required): the `data` field naming the group
//       poll_interval_ms: 100       # how often the store is polled besides enqueue/answer wake-ups
//       max_priority: 10            # accepted (1..255), ignored: RabbitMQ only upstream
//       priority_field: prio        # accepted, ignored: RabbitMQ only upstream
//
// file_based keeps every queue in one SQLite database. `file_path` names a directory (the
// database is `queue.sqlite3` inside it) unless it ends in .db, .sqlite or .sqlite3, in which case
// it is the database file itself; relative paths resolve against the engine's working directory.
// in_memory uses the same engine on a private in-memory database: nothing survives a restart.
// redis keeps every queue in Redis (docs/redis.md): several engines on one server consume the
// same queues, and the leases of an engine that dies pass to the others.
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace iii {

// How one queue (named or subscriber) is consumed.
struct QueueSettings {
  uint32_t max_attempts = 3;  // total deliveries; the failure of the last one dead-letters
  uint64_t backoff_ms = 1000;
  uint32_t concurrency = 10;
  bool fifo = false;
  std::string message_group_field;  // named FIFO queues only
  uint64_t poll_interval_ms = 100;
};

struct NamedQueueConfig {
  QueueSettings settings;
  uint32_t max_retries = 3;  // as written (settings.max_attempts = max(1, max_retries))
};

struct QueueWorkerConfig {
  enum class Storage { kInMemory, kFileBased, kRedis, kBridge };
  Storage storage = Storage::kFileBased;
  std::filesystem::path file_path;  // the database file (absolute) for kFileBased
  std::string redis_url;            // for kRedis
  std::string bridge_url;           // for kBridge: the queues are that engine's (queue_bridge.h)
  uint64_t max_message_bytes = 1 << 20;
  std::map<std::string, NamedQueueConfig> queues;  // always holds "default"
};

inline constexpr const char* kDefaultQueueStorePath = "./data/queue_store";
inline constexpr const char* kQueueDatabaseName = "queue.sqlite3";

// Parses a config block (null = all defaults). Unknown keys, wrong types, out-of-range numbers,
// a fifo queue without message_group_field and unsupported adapters throw BuiltinConfigError
// naming the key.
QueueWorkerConfig parse_queue_config(const boost::json::value& config, const std::filesystem::path& working_dir);

// The queue's config as topic_stats shows it.
std::string named_queue_config_json(const NamedQueueConfig& config);

// Backoff after the failure of delivery `attempt` (1 = the first): backoff_ms * 2^(attempt-1),
// saturating at kMaxBackoffMs.
inline constexpr uint64_t kMaxBackoffMs = 7ull * 24 * 3600 * 1000;
uint64_t backoff_delay_ms(uint64_t backoff_ms, uint32_t attempt);

}  // namespace iii
