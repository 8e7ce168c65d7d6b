// What the two halves of the SQLite queue store (store/sqlite_queue_store.h) share: the Core, one
// open database with its writer and checkpointer (its life and the writer in sqlite_queue_store.cpp,
// the statements the writer runs in sqlite_queue_queries.cpp), and the naming of row states in
// SQL. Internal to the store.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/sqlite_db.h"
#include "store/sqlite_queue_store.h"

namespace iii {
namespace sqlite_queue {

// A row's place in the life cycle of store/queue_store.h. The numbers are what the `state` column
// holds on disk: never renumber them.
enum class MessageState : int64_t { kReady = 0, kDelayed = 1, kLeased = 2, kDead = 3 };

// SQL text with the state names {ready}, {delayed}, {leased} and {dead} replaced by their numbers,
// so that every statement names states instead of repeating literals. Built once per statement
// (function-local statics), then found in the prepared-statement cache by its text.
std::string sql(std::string_view text);

}  // namespace sqlite_queue

// One open database, its writer and its checkpointer. Every store of this process on one file
// shares it (a hot reload opens the file again while the older store drains), so the file has one
// writing connection; other processes are kept off by the FileLock. The writer thread holds the Core
// too: when the last store goes on the writer thread itself (inside an answer), the thread is
// detached, answers what is queued, and the database closes when it ends.
struct SqliteQueueStore::Core {
  // One queued unit of the writer's work: an operation of a batch (run, then answer) or a task.
  struct Item {
    std::function<void()> run;                              // inside the batch's transaction; mu held
    std::function<void(const std::string* error)> answer;  // after the commit; no lock held
    std::function<void()> task;                             // run_async: alone, no lock held
    size_t bytes = 0;
    bool is_enqueue = false;
  };

  std::string key;                 // in the table of open databases; "" for ":memory:"
  std::mutex mu;                   // the database: one transaction at a time
  std::unique_ptr<FileLock> lock;  // declared before db: released after it closes
  std::unique_ptr<SqliteDb> db;

  std::mutex life;  // users and the writer thread object
  size_t users = 0;
  std::thread writer;

  std::mutex qmu;  // the writer's queue, and what follows
  std::condition_variable work, idle;
  std::deque<Item> items;
  size_t waiting_enqueues = 0, waiting_tasks = 0;
  bool busy = false, stopping = false, running = false;
  uint64_t commits = 0;

  ~Core();
  // The Core of `path`: the one already open in this process, or a new one. Throws QueueStoreError.
  static std::shared_ptr<Core> open(const std::filesystem::path& path);
  // A store starts or stops using it; the writer runs while it has users (and drains after).
  static void acquire(const std::shared_ptr<Core>& self);
  void release();

  // The operations, REQUIRES: mu held, inside a transaction.
  size_t insert(std::span<const NewQueueMessage> messages, int64_t now_ms);
  std::vector<QueueMessage> lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms,
                                  const std::string& holder);
  bool take_lease(int64_t seq, int64_t lease_until_ms, const std::string& holder, QueueMessage& out);
  bool settle(const QueueSettlement& s);

  // The checkpointer: a connection and thread of its own that copies the WAL into the database
  // file (syncing both) every kCheckpointEveryMs, beside the writer, which never waits for it.
  std::unique_ptr<SqliteDb> checkpoint_db;
  std::thread checkpointer;
  std::mutex ckmu;
  std::condition_variable ckcv;
  bool ckstop = false;
  void checkpoint_loop();

  bool submit(Item item);
  void writer_loop();
  void commit_batch(std::vector<Item>& batch);
};

}  // namespace iii
