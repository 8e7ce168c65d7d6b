// The `config:` block of the iii-state built-in (docs/builtins.md §2.1):
//
//   adapter:                      # default {name: kv}
//     name: kv                    # kv | redis | bridge
//     config:                     # kv:
//       store_method: file_based  # in_memory (default) | file_based
//       file_path: ./data/state_store.db
//       save_interval_ms: 5000    # accepted, ignored (see below)
//   # or: adapter: { name: redis, config: { redis_url: redis://localhost:6379 } }
//   # or: adapter: { name: bridge, config: { bridge_url: ws://localhost:49134 } }
//   triggers_enabled: true
//   max_value_bytes: 1048576      # unset = no limit; state::set only
//   save_interval_ms: 5000        # accepted, ignored (see below)
//
// file_based keeps the data in one SQLite database at file_path (relative paths resolve against
// the engine's working directory). Upstream's kv adapter flushes to disk every save_interval_ms
// and can lose that much on a crash; here every write is on disk before it returns, so there is
// no save loop and both save_interval_ms keys are only range-checked (100..3600000) and ignored.
// If file_path names an existing directory (upstream's layout keeps one file per scope in a
// directory), the database is created inside it as `state.sqlite3`. The redis adapter keeps the
// data in Redis (store/redis_kv_store.h), shared by every engine that names the same server. The
// bridge adapter keeps nothing here: every state::* call runs as the same call on the engine at
// bridge_url, and this engine's `state` triggers fire on what it answers.
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace iii {

struct StateConfig {
  enum class Storage { kInMemory, kFileBased, kRedis, kBridge };
  Storage storage = Storage::kInMemory;
  std::filesystem::path file_path;  // absolute; meaningful for kFileBased
  std::string redis_url;            // kRedis
  std::string bridge_url;           // kBridge
  bool triggers_enabled = true;
  std::optional<uint64_t> max_value_bytes;
};

inline constexpr const char* kDefaultStateFilePath = "./data/state_store.db";

// Parses a config block (null = all defaults). Unknown keys, wrong types, out-of-range numbers and
// unsupported adapters throw BuiltinConfigError naming the key.
StateConfig parse_state_config(const boost::json::value& config, const std::filesystem::path& working_dir);

// The SQLite database file for a file_based config (see the directory rule above).
std::filesystem::path state_database_file(const StateConfig& config);

}  // namespace iii
