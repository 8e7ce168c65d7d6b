// KvStreamStore: the StreamStore contract (store/stream_store.h) on top of any KvStore.
//
// Encoding: (stream, group) is one KvStore scope, `stream + '\0' + group`; the item id is the key.
// This is safe because stream and group names may not contain NUL (checked here: each call throws
// std::invalid_argument otherwise), so the first NUL of a scope always ends the stream name and
// the encoding is one-to-one. It also keeps the orders the contract asks for for free:
//  * '\0' is the smallest byte, so the KvStore's byte-sorted list_groups() puts every scope of
//    stream "a" ("a\0...") before any scope of a longer stream such as "ab" ("ab\0..."): the
//    scopes of one stream are contiguous and their groups come out sorted;
//  * a group exists while its scope holds a key, and the KvStore never lists an emptied scope,
//    so emptied groups and streams vanish without any bookkeeping here;
//  * list() and update() are the KvStore's, so insertion order and atomicity carry over.
// Item ids go in the key untouched and may hold any byte, NUL included.
//
// The Redis adapter is this class over a RedisKvStore whose layout names each scope's hash
// `stream:<stream>:<group>` (the official engine's layout). Names may contain ':', so streams and
// groups cannot be recovered by splitting key names: the store's set of scopes (`<stream>\0<group>`)
// is the index of them.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>

#include "store/kv_store.h"
#include "store/redis_kv_store.h"
#include "store/stream_store.h"

namespace iii {

class KvStreamStore final : public StreamStore {
 public:
  // `publishes_changes`: what publishes_changes() answers (the KvStore announces its writes).
  explicit KvStreamStore(std::shared_ptr<KvStore> kv, bool publishes_changes = false);

  std::optional<std::string> get(std::string_view stream, std::string_view group, std::string_view item) override;
  std::optional<std::string> set(std::string_view stream, std::string_view group, std::string_view item,
                                 std::string_view value) override;
  std::optional<std::string> remove(std::string_view stream, std::string_view group, std::string_view item) override;
  KvUpdate update(std::string_view stream, std::string_view group, std::string_view item,
                  const KvUpdateFn& fn) override;
  std::vector<std::string> list(std::string_view stream, std::string_view group) override;
  std::vector<std::string> list_groups(std::string_view stream) override;
  std::vector<std::string> list_streams() override;
  std::vector<StreamGroups> list_all() override;  // one list_groups() of the KvStore
  // The KvStore's asynchronous forms (answered later on the Redis store).
  void get_async(std::string_view stream, std::string_view group, std::string_view item,
                 KvDone<std::optional<std::string>> done) override;
  void set_async(std::string_view stream, std::string_view group, std::string_view item, std::string_view value,
                 KvDone<std::optional<std::string>> done) override;
  void remove_async(std::string_view stream, std::string_view group, std::string_view item,
                    KvDone<std::optional<std::string>> done) override;
  void update_async(std::string_view stream, std::string_view group, std::string_view item, KvUpdateFn fn,
                    KvDone<KvUpdate> done) override;
  void list_async(std::string_view stream, std::string_view group, KvDone<std::vector<std::string>> done) override;
  void list_groups_async(std::string_view stream, KvDone<std::vector<std::string>> done) override;
  void list_all_async(KvDone<std::vector<StreamGroups>> done) override;
  bool publishes_changes() const override { return publishes_changes_; }

 private:
  std::shared_ptr<KvStore> kv_;
  bool publishes_changes_;
};

// A stream store held in process memory (nothing survives the process).
std::shared_ptr<StreamStore> open_memory_stream_store();
// A stream store in the SQLite database `file` (created with its parent directories if missing;
// see store/sqlite_kv_store.h for durability). Throws KvStoreError when it cannot be opened.
std::shared_ptr<StreamStore> open_sqlite_stream_store(const std::filesystem::path& file);

// How the Redis stream store announces its writes: each write that changes an item publishes
// text(stream, group, item id) filled in with the change (RedisChangeText) on `channel`, in the
// write's own script, so the channel carries the changes in the order Redis made them.
struct StreamChangeFeed {
  std::string channel;  // empty: nothing is published
  std::function<RedisChangeText(std::string_view stream, std::string_view group, std::string_view item)> text;
};

// A stream store on the client's Redis server (docs/redis.md "Streams on Redis"):
//   stream:<stream>:<group>                hash: item id → raw JSON value (the official layout)
//   iii:stream-order:<stream>\0<group>     sorted set: item id → insertion sequence
//   iii:stream-seq                         counter of insertion sequences
//   iii:stream-scopes                      set of `<stream>\0<group>` holding at least one item
// Hashes another client wrote (no index) are read too; list_groups() and list_streams() read
// `stream:<a>:<b>` as stream <a>, group <b> at the first ':', as the official engine does.
// Two names that differ only in where ':' falls — stream "a", group "b:c" and stream "a:b",
// group "c" — share one hash, as in the official engine: their items mix.
std::shared_ptr<StreamStore> open_redis_stream_store(std::shared_ptr<RedisClient> client, StreamChangeFeed feed = {});

}  // namespace iii
