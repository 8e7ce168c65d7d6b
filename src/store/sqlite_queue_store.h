// SqliteQueueStore: the QueueStore contract (store/queue_store.h) in one SQLite database file.
//
// Durability: every call is its own transaction committed before it returns, in a database opened
// by store/sqlite_db.h (WAL, synchronous=NORMAL): a committed enqueue survives `kill -9` of the
// engine; an OS crash or power cut can lose the last commits without corrupting the database.
//
// Lease holders: each open store is one holder with a random token, registered in a
// process-wide table while the store is open. recover() requeues leases whose holder token is
// not in that table: holders of an earlier run of the process. A store opened again in the same
// process while an older one still drains (a hot reload) leaves the older one's leases alone.
//
// One process at a time: the store takes an advisory lock (flock) on `<path>.lock`, shared by
// every store of one process on that path; a second engine on the same directory fails to open
// with a clear error instead of stealing leases.
//
// Memory: only the rows a call returns are loaded; the FIFO scan reads at most kFifoScanLimit
// READY rows per lease() call (a group blocked behind more than that many messages of blocked
// groups waits for the next call once those drain).
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>

#include "store/queue_store.h"
#include "store/sqlite_db.h"

namespace iii {

class SqliteQueueStore final : public QueueStore {
 public:
  static constexpr size_t kFifoScanLimit = 4096;

  // Opens (creating if needed, with missing parent directories) the database at `path`;
  // ":memory:" opens a private in-memory database (nothing survives the process).
  // Throws QueueStoreError naming the path and the reason when it cannot be opened or written.
  explicit SqliteQueueStore(const std::filesystem::path& path);
  ~SqliteQueueStore() override;

  const std::filesystem::path& path() const { return db_->path(); }

  size_t enqueue(std::span<const NewQueueMessage> messages, int64_t now_ms) override;
  size_t promote_due(int64_t now_ms) override;
  std::vector<QueueMessage> lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms) override;
  bool ack(int64_t seq, uint32_t attempt) override;
  bool retry(int64_t seq, uint32_t attempt, std::string_view error, int64_t retry_at_ms, int64_t now_ms) override;
  bool bury(int64_t seq, uint32_t attempt, std::string_view error, int64_t now_ms) override;
  bool release(int64_t seq, uint32_t attempt, int64_t retry_at_ms, int64_t now_ms) override;
  std::vector<QueueMessage> expired(int64_t now_ms, size_t max) override;
  size_t recover(int64_t now_ms) override;
  QueueCounts counts(const QueueScope& scope) override;
  std::vector<QueueSummary> summaries() override;
  std::vector<DeadMessage> dead(const QueueScope& scope, size_t offset, size_t limit) override;
  size_t redrive(const QueueScope& scope, int64_t now_ms) override;
  bool redrive_message(const QueueScope& scope, std::string_view message_id, int64_t now_ms) override;
  bool discard(const QueueScope& scope, std::string_view message_id) override;

 private:
  class FileLock;
  // REQUIRES: mu_ held.
  bool take_lease(int64_t seq, int64_t lease_until_ms, QueueMessage& out);

  const std::string holder_;  // this store's lease-holder token
  std::mutex mu_;
  std::unique_ptr<FileLock> lock_;  // declared before db_: released after the database closes
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace iii
