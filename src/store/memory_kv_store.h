// MemoryKvStore: the KvStore contract (store/kv_store.h) held in process memory. Nothing survives
// the process. Reads share a lock; writes take it exclusively.
#pragma once
#include <cstdint>
#include <map>
#include <shared_mutex>

#include "core/string_map.h"
#include "store/kv_store.h"

namespace iii {

class MemoryKvStore final : public KvStore {
 public:
  std::optional<std::string> get(std::string_view scope, std::string_view key) override;
  std::optional<std::string> set(std::string_view scope, std::string_view key, std::string_view value) override;
  std::optional<std::string> remove(std::string_view scope, std::string_view key) override;
  KvUpdate update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) override;
  std::vector<std::string> list(std::string_view scope) override;
  std::vector<KvEntry> entries(std::string_view scope) override;
  std::vector<std::string> list_groups() override;

 private:
  // One scope: entries ordered by an insertion sequence number, plus an index key → sequence.
  struct Scope {
    std::map<uint64_t, KvEntry> by_seq;
    StringMap<uint64_t> seq_of;
  };
  // REQUIRES: mu_ held. The entry of (scope, key), or null.
  KvEntry* find_locked(std::string_view scope, std::string_view key);
  // REQUIRES: mu_ held exclusively. Stores the value, creating the scope and key as needed.
  void put_locked(std::string_view scope, std::string_view key, std::string value);

  std::shared_mutex mu_;
  std::map<std::string, Scope, std::less<>> scopes_;  // sorted: list_groups() walks it in order
  uint64_t next_seq_ = 0;
};

}  // namespace iii
