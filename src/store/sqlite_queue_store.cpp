// The SQLite queue store's life and its writer: the open databases of this process, the file
// lock, the group-committing writer thread, the checkpointer, the asynchronous forms, and lease
// recovery. The statements the writer runs are in sqlite_queue_queries.cpp.
#include "store/sqlite_queue_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "store/sqlite_queue_core.h"
#include "wire/flush_batch.h"
#include "wire/uuid.h"

namespace iii {

// SQL text with the state names {ready}, {delayed}, {leased} and {dead} replaced by their numbers,
// so that every statement names states instead of repeating literals. Built once per statement
// (function-local statics), then found in the prepared-statement cache by its text.
std::string sqlite_queue::sql(std::string_view text) {
  using MessageState = sqlite_queue::MessageState;
  static constexpr std::pair<std::string_view, MessageState> kNames[] = {
      {"{ready}", MessageState::kReady}, {"{delayed}", MessageState::kDelayed},
      {"{leased}", MessageState::kLeased}, {"{dead}", MessageState::kDead}};
  std::string out(text);
  for (const auto& [name, state] : kNames) {
    for (size_t at = out.find(name); at != std::string::npos; at = out.find(name, at))
      out.replace(at, name.size(), std::to_string(static_cast<int64_t>(state)));
  }
  return out;
}

namespace {

using sqlite_queue::sql;

// `seq` never comes back after a delete (AUTOINCREMENT), so (seq, attempts) names one lease for
// good: a late answer cannot complete a newer message that reused the number.
const std::string kSchema = sql(
    "CREATE TABLE IF NOT EXISTS messages ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  queue TEXT NOT NULL, topic TEXT NOT NULL, message_id TEXT NOT NULL, function_id TEXT NOT NULL,"
    "  data TEXT NOT NULL, grp TEXT, traceparent TEXT NOT NULL, baggage TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  available_at INTEGER NOT NULL,"  // READY: enqueued; DELAYED: retry time; LEASED: deadline; DEAD: failed at
    "  attempts INTEGER NOT NULL, owner TEXT, last_error TEXT NOT NULL DEFAULT '', enqueued_at INTEGER NOT NULL,"
    "  UNIQUE (message_id, queue));"
    "CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, state, seq);"
    // Due times only of the rows that have one to wait for (schema 2): an enqueue adds no entry
    // and a lease one, where the index of every row over (state, available_at) of schema 1 took
    // one per enqueue and two per lease. An engine of schema 1 opening the file creates its
    // index again, and this one drops it again: both read the same rows.
    "DROP INDEX IF EXISTS messages_due;"
    "CREATE INDEX IF NOT EXISTS messages_delayed ON messages (available_at) WHERE state = {delayed};"
    "CREATE INDEX IF NOT EXISTS messages_leased ON messages (available_at) WHERE state = {leased};"
    "PRAGMA user_version = 2;");

// A lease-holder token unique across processes and runs (a forked child shares its parent's
// random generator state, so the pid and a clock reading are added).
std::string new_holder_token() {
  return new_uuid() + "/" + std::to_string(::getpid()) + "/" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

// Tokens of the lease holders (open stores) of this process.
std::mutex g_holders_mu;
std::unordered_set<std::string> g_live_holders;

}  // namespace

// flock() on `<db>.lock`: held by the one open database (Core) of this process on that path.
class SqliteQueueStore::FileLock {
 public:
  explicit FileLock(const std::string& db) {
    const std::string file = db + ".lock";
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw QueueStoreError("cannot open the queue store " + db + ": cannot create " + file + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw QueueStoreError("cannot open the queue store " + db +
                            ": it is in use by another process (another iii engine on the same data directory?)");
    }
  }
  ~FileLock() { ::close(fd_); }  // releases the flock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};


namespace {
// The open databases of this process by absolute path. An entry whose Core is expired is one
// still closing (on a detached writer thread): opening that path again waits for it to go.
std::mutex g_open_mu;
std::condition_variable g_open_closed;
std::map<std::string, std::weak_ptr<SqliteQueueStore::Core>> g_open;
constexpr auto kCloseWait = std::chrono::seconds(10);
}  // namespace

SqliteQueueStore::Core::~Core() {
  if (checkpointer.joinable()) {
    {
      std::lock_guard lock(ckmu);
      ckstop = true;
    }
    ckcv.notify_all();
    checkpointer.join();
  }
  checkpoint_db.reset();
  db.reset();  // closes the database (and checkpoints it) before the file lock goes
  lock.reset();
  if (writer.joinable()) writer.detach();  // only when released before its writer ever stopped
  if (key.empty()) return;
  {
    std::lock_guard table(g_open_mu);
    if (auto it = g_open.find(key); it != g_open.end() && it->second.expired()) g_open.erase(it);
  }
  g_open_closed.notify_all();
}

std::shared_ptr<SqliteQueueStore::Core> SqliteQueueStore::Core::open(const std::filesystem::path& path) {
  auto make = [&](std::string key) {
    auto core = std::make_shared<Core>();  // its key is set once it opened (~Core uses the table)
    // The lock first: another engine's store is then refused with a clear error, before SQLite
    // could wait on its locks. When the directory cannot be made, SqliteDb reports that (it tries
    // again, with a clear message).
    std::error_code ec;
    if (!key.empty() && (!path.has_parent_path() || std::filesystem::create_directories(path.parent_path(), ec) || !ec))
      core->lock = std::make_unique<FileLock>(key);
    auto raise = [](const std::string& m) { throw QueueStoreError(m); };
    core->db = std::make_unique<SqliteDb>(path, SqliteDb::Options{"queue store", kSchema, raise});
    if (!key.empty()) {
      // Checkpoints by the checkpointer; the writer's own (a stall of two fdatasync each) only if
      // the WAL reaches kWalPagesMax, should the checkpointer fall behind.
      core->db->exec(("PRAGMA wal_autocheckpoint = " + std::to_string(kWalPagesMax)).c_str());
      core->checkpoint_db = std::make_unique<SqliteDb>(path, SqliteDb::Options{"queue store", "", raise});
      core->checkpointer = std::thread([c = core.get()] { c->checkpoint_loop(); });
    }
    core->key = std::move(key);
    return core;
  };
  if (path == ":memory:") return make("");
  std::string key = std::filesystem::absolute(path).lexically_normal().string();
  std::unique_lock table(g_open_mu);
  const auto deadline = std::chrono::steady_clock::now() + kCloseWait;
  for (auto it = g_open.find(key); it != g_open.end(); it = g_open.find(key)) {
    if (std::shared_ptr<Core> core = it->second.lock()) return core;
    if (g_open_closed.wait_until(table, deadline) == std::cv_status::timeout && g_open.count(key))
      throw QueueStoreError("cannot open the queue store " + key + ": it is still closing");
  }
  std::shared_ptr<Core> core = make(key);
  g_open[key] = core;
  return core;
}

void SqliteQueueStore::Core::acquire(const std::shared_ptr<Core>& self) {
  std::lock_guard lifetime(self->life);
  ++self->users;
  std::lock_guard lock(self->qmu);
  self->stopping = false;
  if (self->running) return;  // still draining after its last user went: it goes on
  if (self->writer.joinable()) self->writer.join();  // it left its loop: only its return remains
  self->running = true;
  self->writer = std::thread([self] { self->writer_loop(); });
}

void SqliteQueueStore::Core::release() {
  std::lock_guard lifetime(life);
  if (--users > 0) return;
  {
    std::lock_guard lock(qmu);
    stopping = true;  // the writer answers what is queued, then ends
  }
  work.notify_all();
  if (!writer.joinable()) return;  // detached earlier: it ends by itself
  if (writer.get_id() == std::this_thread::get_id())
    writer.detach();  // released inside one of its own answers: it finishes by itself
  else
    writer.join();
}

SqliteQueueStore::SqliteQueueStore(const std::filesystem::path& path)
    : holder_(new_holder_token()), core_(Core::open(path)) {
  Core::acquire(core_);
  std::lock_guard lock(g_holders_mu);
  g_live_holders.insert(holder_);
}

SqliteQueueStore::~SqliteQueueStore() {
  {
    std::lock_guard lock(g_holders_mu);
    g_live_holders.erase(holder_);
  }
  core_->release();
}

const std::filesystem::path& SqliteQueueStore::path() const { return core_->db->path(); }

uint64_t SqliteQueueStore::commits() const {
  std::lock_guard lock(core_->qmu);
  return core_->commits;
}

// --- the writer ---

bool SqliteQueueStore::Core::submit(Item item) {
  {
    std::lock_guard lock(qmu);
    if (item.task) {
      if (waiting_tasks >= kMaxWaitingTasks) return false;
      ++waiting_tasks;
    } else if (item.is_enqueue) {
      if (waiting_enqueues >= kMaxWaitingEnqueues) return false;
      ++waiting_enqueues;
    }
    items.push_back(std::move(item));
  }
  work.notify_one();
  return true;
}

void SqliteQueueStore::Core::writer_loop() {
  std::unique_lock lock(qmu);
  for (;;) {
    // Waits for work only: the destructor sets `stopping` and notifies.
    work.wait(lock, [&] { return !items.empty() || stopping; });
    if (items.empty()) {  // stopping, and everything answered
      running = false;
      return;
    }
    busy = true;
    if (items.front().task) {
      std::function<void()> task = std::move(items.front().task);
      items.pop_front();
      --waiting_tasks;
      lock.unlock();
      try {
        FlushBatch frames;
        task();
      } catch (const std::exception& e) {
        spdlog::error("iii-queue: store task failed: {}", e.what());
      }
      task = nullptr;  // what it captured goes before the queue is idle
      lock.lock();
    } else {
      std::vector<Item> batch;
      size_t bytes = 0;
      while (!items.empty() && !items.front().task && batch.size() < kMaxBatchOps &&
             (batch.empty() || bytes + items.front().bytes <= kMaxBatchBytes)) {
        bytes += items.front().bytes;
        if (items.front().is_enqueue) --waiting_enqueues;
        batch.push_back(std::move(items.front()));
        items.pop_front();
      }
      lock.unlock();
      commit_batch(batch);
      batch.clear();
      lock.lock();
    }
    busy = false;
    if (items.empty()) idle.notify_all();
  }
}

void SqliteQueueStore::Core::checkpoint_loop() {
  std::unique_lock lock(ckmu);
  while (!ckcv.wait_for(lock, std::chrono::milliseconds(kCheckpointEveryMs), [&] { return ckstop; })) {
    lock.unlock();
    try {
      // PASSIVE: copies what no reader needs, never waits for the writer (nor it for this).
      checkpoint_db->exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (const std::exception& e) {
      spdlog::warn("iii-queue: checkpoint failed: {}", e.what());
    }
    lock.lock();
  }
}

void SqliteQueueStore::Core::commit_batch(std::vector<Item>& batch) {
  std::vector<std::optional<std::string>> errors(batch.size());
  uint64_t committed = 0;
  {
    std::lock_guard lock(mu);
    std::optional<std::string> failure;
    try {
      SqliteDb::Transaction tx(*db);
      for (Item& item : batch) item.run();
      tx.commit();
      ++committed;
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure && batch.size() == 1) {
      errors[0] = std::move(failure);
    } else if (failure) {
      // Rolled back: each operation again in a transaction of its own, so that only the ones that
      // cannot be done fail (and change nothing).
      for (size_t i = 0; i < batch.size(); ++i) {
        try {
          SqliteDb::Transaction tx(*db);
          batch[i].run();
          tx.commit();
          ++committed;
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      }
    }
  }
  {
    std::lock_guard lock(qmu);
    commits += committed;
  }
  // The frames the answers send (receipts, deliveries) leave once per connection at the end.
  FlushBatch frames;
  for (size_t i = 0; i < batch.size(); ++i) {
    try {
      batch[i].answer(errors[i] ? &*errors[i] : nullptr);
    } catch (const std::exception& e) {
      spdlog::error("iii-queue: answering a store operation failed: {}", e.what());
    }
  }
}

void SqliteQueueStore::enqueue_async(std::vector<NewQueueMessage> messages, int64_t now_ms, QueueDone<size_t> done) {
  struct State {
    std::vector<NewQueueMessage> messages;
    size_t added = 0;
  };
  auto state = std::make_shared<State>(State{std::move(messages), 0});
  Core::Item item;
  item.is_enqueue = true;
  for (const NewQueueMessage& m : state->messages) item.bytes += m.data.size();
  item.run = [core = core_.get(), state, now_ms] { state->added = core->insert(state->messages, now_ms); };
  item.answer = [state, done](const std::string* error) {
    QueueResult<size_t> r;
    if (error) r.error = *error;
    else r.value = state->added;
    done(std::move(r));
  };
  if (!core_->submit(std::move(item)))
    done(QueueResult<size_t>{std::nullopt, "the queue store is overloaded: " + std::to_string(kMaxWaitingEnqueues) +
                                               " enqueues wait for the disk already"});
}

void SqliteQueueStore::lease_async(std::string queue, size_t max, bool fifo, int64_t lease_until_ms,
                                   QueueDone<std::vector<QueueMessage>> done) {
  auto leased = std::make_shared<std::vector<QueueMessage>>();
  Core::Item item;
  item.run = [core = core_.get(), leased, queue = std::move(queue), max, fifo, lease_until_ms, holder = holder_] {
    *leased = core->lease(queue, max, fifo, lease_until_ms, holder);
  };
  item.answer = [leased, done = std::move(done)](const std::string* error) {
    QueueResult<std::vector<QueueMessage>> r;
    if (error) r.error = *error;
    else r.value = std::move(*leased);
    done(std::move(r));
  };
  core_->submit(std::move(item));  // never refused: one per consumer at a time
}

void SqliteQueueStore::settle_async(QueueSettlement settlement, QueueDone<bool> done) {
  auto held = std::make_shared<bool>(false);
  Core::Item item;
  item.bytes = settlement.error.size();
  item.run = [core = core_.get(), held, s = std::move(settlement)] { *held = core->settle(s); };
  item.answer = [held, done = std::move(done)](const std::string* error) {
    QueueResult<bool> r;
    if (error) r.error = *error;
    else r.value = *held;
    done(std::move(r));
  };
  core_->submit(std::move(item));  // never refused: one per delivery in flight
}

bool SqliteQueueStore::run_async(std::function<void()> task) {
  Core::Item item;
  item.task = std::move(task);
  return core_->submit(std::move(item));
}

bool SqliteQueueStore::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(core_->qmu);
  return core_->idle.wait_for(lock, timeout, [&] { return core_->items.empty() && !core_->busy; });
}

// Leases whose holder is no open store of this process (an engine that died) go back to ready.
size_t SqliteQueueStore::recover(int64_t now_ms) {
  static const std::string kOwners = sql("SELECT DISTINCT owner FROM messages WHERE state = {leased}");
  static const std::string kRequeue =
      sql("UPDATE messages SET state = {ready}, owner = NULL WHERE state = {leased} AND owner IS ?1");
  std::lock_guard lock(core_->mu);
  std::vector<std::optional<std::string>> gone;
  {
    SqliteDb::Use use(core_->db->statement(kOwners));
    std::lock_guard holders(g_holders_mu);
    while (use.step()) {
      std::optional<std::string> owner = use.optional_text(0);
      if (!owner || !g_live_holders.count(*owner)) gone.push_back(std::move(owner));
    }
  }
  if (gone.empty()) return 0;
  SqliteDb::Transaction tx(*core_->db);
  size_t n = 0;
  for (const auto& owner : gone) {
    SqliteDb::Use(core_->db->statement(kRequeue)).optional_text(1, owner).run();
    n += static_cast<size_t>(core_->db->changes());
  }
  tx.commit();
  return n;
}

}  // namespace iii
