// SqliteKvStore: the KvStore contract (store/kv_store.h) in one SQLite database file.
//
// Durability: the database runs in WAL mode with synchronous=NORMAL. Every call is its own
// transaction, committed before the call returns, so a write that returned is in the WAL file
// (handed to the kernel with write()). That survives `kill -9` of the engine: the kernel still
// writes the page cache out. What NORMAL does not do is fsync the WAL on each commit, so an OS
// crash or power cut can lose the last commits (never corrupt the database). synchronous=FULL
// would add that fsync per commit, costing a disk flush (milliseconds) on every write.
//
// One connection (store/sqlite_db.h) guarded by a mutex; statements are prepared once and reused. Insertion order is
// the table's autoincrement id, which an overwrite keeps. The file is meant for one engine
// process at a time; another process on the same file waits on SQLite's lock (busy timeout).
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>

#include "store/kv_store.h"
#include "store/sqlite_db.h"

namespace iii {

class SqliteKvStore final : public KvStore {
 public:
  // Opens (creating if needed, with missing parent directories) the database at `path`.
  // Throws KvStoreError naming the path and the reason when it cannot be opened or written.
  explicit SqliteKvStore(const std::filesystem::path& path);
  ~SqliteKvStore() override;

  const std::filesystem::path& path() const { return db_->path(); }

  std::optional<std::string> get(std::string_view scope, std::string_view key) override;
  std::optional<std::string> set(std::string_view scope, std::string_view key, std::string_view value) override;
  std::optional<std::string> remove(std::string_view scope, std::string_view key) override;
  KvUpdate update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) override;
  std::vector<std::string> list(std::string_view scope) override;
  std::vector<KvEntry> entries(std::string_view scope) override;
  std::vector<std::string> list_groups() override;

 private:
  // REQUIRES: mu_ held.
  std::optional<std::string> get_locked(std::string_view scope, std::string_view key);
  void put_locked(std::string_view scope, std::string_view key, std::string_view value);

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
  SqliteDb::Statement& get_;
  SqliteDb::Statement& put_;
  SqliteDb::Statement& delete_;
  SqliteDb::Statement& list_;
  SqliteDb::Statement& groups_;
};

}  // namespace iii
