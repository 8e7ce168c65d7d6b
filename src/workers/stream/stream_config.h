// The `config:` block of the iii-stream built-in (docs/builtins.md §6.1):
//
//   host: 0.0.0.0                 # the client socket's address
//   port: 3112
//   auth_function: app::auth      # optional; called on every upgrade (fail closed, see README)
//   adapter:                      # default {name: kv}
//     name: kv                    # kv | redis | bridge (changes made through this engine are pushed
//                                 # to its sockets; the items live on the engine at bridge_url)
//     config:                     # kv:
//       store_method: in_memory   # in_memory (default) | file_based
//       file_path: ./data/stream_store.db
//       save_interval_ms: 5000    # accepted, ignored: every write is on disk before it returns
//       channel_size: 256         # accepted (1..1048576), ignored: sockets have byte bounds below
//   # or: adapter: { name: redis, config: { redis_url: redis://localhost:6379 } }
//   # or: adapter: { name: bridge, config: { bridge_url: ws://localhost:49134 } }
//   # Bounds (this engine's; upstream has none):
//   max_item_bytes: 4194304             # largest item (set, update result) or send payload
//   max_subscriptions_per_socket: 1024  # beyond it the socket is closed with 1008
//   max_send_queue_bytes: 16777216      # bytes queued to a socket that does not read → closed, 1008
//   max_message_bytes: 65536            # largest client message → closed, 1009
//   auth_timeout_ms: 5000               # the auth function's deadline → connection refused
//
// file_based keeps the items in one SQLite database (WAL) at file_path, relative to the engine's
// working directory; an existing directory gets `stream.sqlite3` inside it. redis keeps them in
// Redis, shared by every engine that names the same server, and carries every change to the
// client sockets of all those engines (docs/redis.md "Streams on Redis").
#pragma once
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace iii {

struct StreamConfig {
  std::string host = "0.0.0.0";
  uint16_t port = 3112;
  std::optional<std::string> auth_function;
  enum class Storage { kInMemory, kFileBased, kRedis, kBridge };
  Storage storage = Storage::kInMemory;
  std::filesystem::path file_path;  // absolute; meaningful for kFileBased
  std::string redis_url;            // kRedis
  std::string bridge_url;           // kBridge
  size_t max_item_bytes = 4u << 20;
  size_t max_subscriptions_per_socket = 1024;
  size_t max_send_queue_bytes = 16u << 20;
  size_t max_message_bytes = 64u << 10;
  std::chrono::milliseconds auth_timeout{5000};

  // The storage part (what a change of needs a new store).
  bool same_store(const StreamConfig& o) const {
    if (storage != o.storage) return false;
    if (storage == Storage::kFileBased) return file_path == o.file_path;
    if (storage == Storage::kBridge) return bridge_url == o.bridge_url;
    return storage == Storage::kInMemory || redis_url == o.redis_url;
  }
  bool operator==(const StreamConfig&) const = default;
};

inline constexpr const char* kDefaultStreamFilePath = "./data/stream_store.db";

// Parses a config block (null = all defaults). Unknown keys, wrong types, out-of-range numbers and
// unsupported adapters throw BuiltinConfigError naming the key.
StreamConfig parse_stream_config(const boost::json::value& config, const std::filesystem::path& working_dir);

// The SQLite database file for a file_based config (see the directory rule above).
std::filesystem::path stream_database_file(const StreamConfig& config);

}  // namespace iii
