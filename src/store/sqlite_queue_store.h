// SqliteQueueStore: the QueueStore contract (store/queue_store.h) in one SQLite database file.
//
// Durability: every write is committed before it is answered, in a database opened by
// store/sqlite_db.h (WAL, synchronous=NORMAL): a committed enqueue survives `kill -9` of the
// engine; an OS crash or power cut can lose the last commits without corrupting the database.
//
// Group commit: the asynchronous forms (enqueue_async, lease_async, settle_async) are queued for
// the store's writer thread, which takes what has queued up (at most kMaxBatchOps operations and
// kMaxBatchBytes of message data) and runs it in ONE transaction, in submission order, then
// answers each operation after that COMMIT. Nothing waits on purpose: while one batch commits
// and is answered, the next one queues up, so under load a commit carries many enqueues, leases
// and acks, and alone an operation is committed at once. When a batch fails (I/O error, full
// disk), it is rolled back and its operations run again one transaction each, so only the ones
// that cannot be done are answered with the error (and changed nothing). Enqueues waiting for the
// writer are bounded (kMaxWaitingEnqueues: beyond, enqueue_async answers an error at once), and
// so are run_async tasks (kMaxWaitingTasks); leases and settlements are bounded by their callers
// (one lease request per consumer, one settlement per delivery in flight). The synchronous
// methods run on the caller's thread, each its own transaction, between the writer's batches.
//
// Lease holders: each store is one holder with a random token, registered in a
// process-wide table while the store is open. recover() requeues leases whose holder token is
// not in that table: holders of an earlier run of the process. A store opened again in the same
// process while an older one still drains (a hot reload) leaves the older one's leases alone.
//
// One process, one writer: the stores of one process on one file share one database and writer
// (a hot reload opens the file again while the older store drains), which takes an advisory lock
// (flock) on `<path>.lock` before opening the file: a second engine on the same directory fails
// to open with a clear error instead of stealing leases. Nothing else opens the file: not the
// console (it asks the queue's functions), not another engine (the flock). SQLite's locks stay in
// NORMAL mode, not locking_mode=EXCLUSIVE: the checkpointer (below) is a second connection. (An
// exclusive connection saved the ~7 fcntl of each transaction, but then the checkpoints ran on
// the writer, and their stalls cost more: see bench/README.md, "Queue group commit".)
//
// Checkpoints: copying the WAL into the database file syncs both (two fdatasync), and a
// checkpoint on the writer stalls every operation waiting for it; SQLite's default did one every
// 1000 WAL pages on the committing connection, ~70 a second at a busy queue's rate, which made
// most of the tail latency. A checkpointer thread with a connection of its own runs a PASSIVE
// checkpoint every kCheckpointEveryMs beside the writer (neither waits for the other); the
// writer's own only happens if the WAL reaches kWalPagesMax (under sustained writes the
// checkpointer never backfills all of it, so the WAL restarts only then: the `-wal` file then
// stays ~34 MB, where SQLite's default kept it ~4 MB). synchronous=NORMAL syncs the WAL
// only at checkpoints, so what an OS crash or power cut may lose is what was committed in the
// last ~kCheckpointEveryMs (before: since the last 1000 pages; at a trickle, minutes). A crash of
// the process (kill -9) loses nothing that was answered either way: a commit is in the WAL file
// when it returns.
//
// Memory: only the rows a call returns are loaded; the FIFO scan reads at most kFifoScanLimit
// READY rows per lease() call (a group blocked behind more than that many messages of blocked
// groups waits for the next call once those drain).
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "store/queue_store.h"
#include "store/sqlite_db.h"

namespace iii {

class SqliteQueueStore final : public QueueStore {
 public:
  static constexpr size_t kFifoScanLimit = 4096;
  static constexpr size_t kMaxBatchOps = 512;
  static constexpr size_t kMaxBatchBytes = 4u << 20;  // a larger single enqueue is a batch alone
  static constexpr size_t kMaxWaitingEnqueues = 16384;
  static constexpr size_t kMaxWaitingTasks = 4096;
  // The checkpointer's period, and the WAL size at which the writer checkpoints itself.
  static constexpr int64_t kCheckpointEveryMs = 100;
  static constexpr int kWalPagesMax = 8192;  // 32 MiB of 4 KiB pages

  // Opens (creating if needed, with missing parent directories) the database at `path`;
  // ":memory:" opens a private in-memory database (nothing survives the process).
  // Throws QueueStoreError naming the path and the reason when it cannot be opened or written.
  explicit SqliteQueueStore(const std::filesystem::path& path);
  ~SqliteQueueStore() override;

  const std::filesystem::path& path() const;

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

  void enqueue_async(std::vector<NewQueueMessage> messages, int64_t now_ms, QueueDone<size_t> done) override;
  void lease_async(std::string queue, size_t max, bool fifo, int64_t lease_until_ms,
                   QueueDone<std::vector<QueueMessage>> done) override;
  void settle_async(QueueSettlement settlement, QueueDone<bool> done) override;
  bool run_async(std::function<void()> task) override;
  bool wait_idle(std::chrono::milliseconds timeout) override;

  // Transactions the writer committed (batches, and single operations re-run after a failed
  // batch), for tests and figures.
  uint64_t commits() const;

  class FileLock;
  struct Core;  // the database and its writer, shared by the stores of this process on one file

 private:
  const std::string holder_;  // this store's lease-holder token
  std::shared_ptr<Core> core_;
};

}  // namespace iii
