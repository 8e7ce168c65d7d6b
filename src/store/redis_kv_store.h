// The Redis key-value store: the KvStore contract (store/kv_store.h) on a Redis server, so that engines sharing
// one Redis share their data (docs/redis.md). State and streams use it with different key layouts.
//
// Layout of a store named <name> (redis_kv_layout; the state worker's is "state"):
//   <name>:<scope>                  hash: key → raw JSON value (what the official engine writes)
//   iii:<name>-order:<scope>        sorted set: key → insertion sequence (list order)
//   iii:<name>-seq                  counter of insertion sequences
//   iii:<name>-scopes               set of the scopes that hold at least one key
// A layout may spell a scope differently in its hash's name (streams: `stream:<stream>:<group>`),
// and may ask every write to publish a change message, in the same script, on a channel.
// Every write with a message, and every delete, is one Lua script, so the hash, its indexes and
// the message go together. A set without a message is a MULTI/EXEC transaction (HGET, HSET),
// cheaper for Redis, and a new key is then indexed by a script that checks it is still there
// (list() shows fields without an index last, so the step between is invisible). update()
// runs the caller's function in this process and writes with a compare-and-set script, retrying
// when another writer changed the key in between (with a random pause, for up to 5 s): the same
// update operations as the embedded stores, atomic per key across every engine.
// Commands go through the pipelining client (store/redis_client.h): the asynchronous forms
// answer from its thread with no thread waiting, and the synchronous ones wait for them.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/kv_store.h"
#include "store/redis_client.h"

namespace iii {

// The message a write publishes on its layout's channel: head + kind + mid + value + tail, where
// kind is "create" (the key was new), "update" (it existed) or "delete", and value is the value
// written (for "delete": the value removed).
struct RedisChangeText {
  std::string head, mid, tail;
};

// Where a RedisKvStore keeps its data.
struct RedisKvLayout {
  // A scope's hash is hash_prefix + hash_name(scope); a null hash_name means the scope itself.
  std::string hash_prefix;
  std::function<std::string(std::string_view scope)> hash_name;
  // list_groups() also lists hashes under hash_prefix that no indexed scope names (written by
  // another client): given the rest of such a key, the scope it is read as (nullopt: skip it).
  // Null means the rest itself.
  std::function<std::optional<std::string>(std::string_view rest)> foreign_scope;
  // Our indexes: order_prefix + scope (sorted set), the sequence counter, the set of scopes.
  std::string order_prefix, seq_key, scopes_key;
  // When `channel` is not empty, every write that changes a key publishes change_text(scope, key)
  // filled in (RedisChangeText) on it, in the write's script: the channel carries the writes in
  // the order Redis executed them, with nothing published for a write that failed.
  std::string channel;
  std::function<RedisChangeText(std::string_view scope, std::string_view key)> change_text;
};

// The layout above for a store named `name`, without a channel.
RedisKvLayout redis_kv_layout(std::string_view name);

std::unique_ptr<KvStore> make_redis_kv_store(std::shared_ptr<RedisClient> client, RedisKvLayout layout);
// A store named `name` ("state") on the client's server.
inline std::unique_ptr<KvStore> make_redis_kv_store(std::shared_ptr<RedisClient> client, std::string_view name) {
  return make_redis_kv_store(std::move(client), redis_kv_layout(name));
}

}  // namespace iii
