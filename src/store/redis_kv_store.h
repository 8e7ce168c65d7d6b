// The Redis key-value store: the KvStore contract (store/kv_store.h) on a Redis server, so that engines sharing
// one Redis share their state (docs/redis.md).
//
// Layout, for a store named <name> (the state worker's is "state"):
//   <name>:<scope>                  hash: key → raw JSON value (what the official engine writes)
//   iii:<name>-order:<scope>        sorted set: key → insertion sequence (list order)
//   iii:<name>-seq                  counter of insertion sequences
//   iii:<name>-scopes               set of the scopes that hold at least one key
// Every write is one Lua script, so the hash and its indexes change together. update() runs the
// caller's function in this process and writes with a compare-and-set script, retrying when
// another writer changed the key in between (with a random pause, for up to 5 s): the same update
// operations as the embedded stores, atomic per key across every engine.
#pragma once
#include <memory>
#include <string>

#include "store/kv_store.h"
#include "store/redis_connection.h"

namespace iii {

// A store named `name` ("state") on the pool's server.
std::unique_ptr<KvStore> make_redis_kv_store(std::shared_ptr<RedisPool> pool, std::string name);

}  // namespace iii
