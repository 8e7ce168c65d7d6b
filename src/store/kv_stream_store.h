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
// A Redis adapter will not go through KvStore: it keeps one hash `stream:<stream>:<group>` per
// group (the official engine's layout) with an ordering index beside it. Names may contain ':',
// so it cannot recover streams and groups by splitting key names; it needs its own index of them.
#pragma once
#include <filesystem>
#include <memory>

#include "store/kv_store.h"
#include "store/stream_store.h"

namespace iii {

class KvStreamStore final : public StreamStore {
 public:
  explicit KvStreamStore(std::shared_ptr<KvStore> kv);

  std::optional<std::string> get(std::string_view stream, std::string_view group, std::string_view item) override;
  std::optional<std::string> set(std::string_view stream, std::string_view group, std::string_view item,
                                 std::string_view value) override;
  std::optional<std::string> remove(std::string_view stream, std::string_view group, std::string_view item) override;
  KvUpdate update(std::string_view stream, std::string_view group, std::string_view item,
                  const KvUpdateFn& fn) override;
  std::vector<std::string> list(std::string_view stream, std::string_view group) override;
  std::vector<std::string> list_groups(std::string_view stream) override;
  std::vector<std::string> list_streams() override;

 private:
  std::shared_ptr<KvStore> kv_;
};

// A stream store held in process memory (nothing survives the process).
std::shared_ptr<StreamStore> open_memory_stream_store();
// A stream store in the SQLite database `file` (created with its parent directories if missing;
// see store/sqlite_kv_store.h for durability). Throws KvStoreError when it cannot be opened.
std::shared_ptr<StreamStore> open_sqlite_stream_store(const std::filesystem::path& file);

}  // namespace iii
