// RedisKvStore: the KvStore contract (store/kv_store.h) on a Redis server, so that engines sharing
// one Redis share their state (docs/redis.md).
//
// Layout, for a store named <name> (the state worker's is "state"):
//   <name>:<scope>                  hash: key → raw JSON value (what the official engine writes)
//   iii:<name>-order:<scope>        sorted set: key → insertion sequence (list order)
//   iii:<name>-seq                  counter of insertion sequences
//   iii:<name>-scopes               set of the scopes that hold at least one key
// Every write is one Lua script, so the hash and its indexes change together. update() runs the
// caller's function in this process and writes with a compare-and-set script, retrying when
// another writer changed the key in between: the same update operations as the embedded stores,
// atomic per key across every engine.
#pragma once
#include <memory>

#include "store/kv_store.h"
#include "store/redis_connection.h"

namespace iii {

class RedisKvStore final : public KvStore {
 public:
  RedisKvStore(std::shared_ptr<RedisPool> pool, std::string name);

  std::optional<std::string> get(std::string_view scope, std::string_view key) override;
  std::optional<std::string> set(std::string_view scope, std::string_view key, std::string_view value) override;
  std::optional<std::string> remove(std::string_view scope, std::string_view key) override;
  KvUpdate update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) override;
  std::vector<std::string> list(std::string_view scope) override;
  std::vector<KvEntry> entries(std::string_view scope) override;
  std::vector<std::string> list_groups() override;

 private:
  struct Keys {
    std::string hash, order;
  };
  Keys keys_of(std::string_view scope) const;
  // EVALSHA of a script (EVAL when the server does not know it yet); throws KvStoreError.
  RedisReply eval(const struct RedisScript& script, const std::vector<std::string_view>& keys,
                  const std::vector<std::string_view>& args);

  std::shared_ptr<RedisPool> pool_;
  std::string name_, seq_key_, scopes_key_;
};

}  // namespace iii
