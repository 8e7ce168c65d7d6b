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

#include "wire/flush_batch.h"
#include "wire/uuid.h"

namespace iii {
namespace {

// A row's place in the life cycle of store/queue_store.h. The numbers are what the `state` column
// holds on disk: never renumber them.
enum class MessageState : int64_t { kReady = 0, kDelayed = 1, kLeased = 2, kDead = 3 };

// SQL text with the state names {ready}, {delayed}, {leased} and {dead} replaced by their numbers,
// so that every statement names states instead of repeating literals. Built once per statement
// (function-local statics), then found in the prepared-statement cache by its text.
std::string sql(std::string_view text) {
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

int64_t state_after_wait(int64_t retry_at_ms, int64_t now_ms) {
  return static_cast<int64_t>(retry_at_ms <= now_ms ? MessageState::kReady : MessageState::kDelayed);
}

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

constexpr const char* kMessageColumns =
    "seq, queue, topic, message_id, function_id, data, grp, traceparent, baggage, attempts, last_error";

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

namespace {
// A statement that exists in two flavours, by queue name or by topic: {scope} names the column.
class ScopedSql {
 public:
  explicit ScopedSql(std::string_view text)
      : by_queue_(sql(replace_scope(text, "queue"))), by_topic_(sql(replace_scope(text, "topic"))) {}
  const std::string& of(const QueueScope& scope) const { return scope.is_topic ? by_topic_ : by_queue_; }

 private:
  static std::string replace_scope(std::string_view text, std::string_view column) {
    std::string out(text);
    const size_t at = out.find("{scope}");
    if (at != std::string::npos) out.replace(at, 7, column);
    return out;
  }
  const std::string by_queue_, by_topic_;
};

// A message row selected with kMessageColumns.
QueueMessage read_message(SqliteDb::Use& row) {
  QueueMessage m;
  m.seq = row.integer(0);
  m.queue = row.text(1), m.topic = row.text(2), m.message_id = row.text(3), m.function_id = row.text(4);
  m.data = row.text(5), m.group = row.optional_text(6), m.traceparent = row.text(7), m.baggage = row.text(8);
  m.attempt = static_cast<uint32_t>(row.integer(9));
  m.last_error = row.text(10);
  return m;
}

// Adds `n` rows of `state` to the counts.
void count_state(QueueCounts& c, int64_t state, uint64_t n) {
  switch (static_cast<MessageState>(state)) {
    case MessageState::kReady: c.ready = n; break;
    case MessageState::kDelayed: c.delayed = n; break;
    case MessageState::kLeased: c.leased = n; break;
    case MessageState::kDead: c.dead = n; break;
  }
}
}  // namespace

size_t SqliteQueueStore::Core::insert(std::span<const NewQueueMessage> messages, int64_t now_ms) {
  static const std::string kInsert = sql(
      "INSERT OR IGNORE INTO messages (queue, topic, message_id, function_id, data, grp, traceparent, baggage, "
      "state, available_at, attempts, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, {ready}, ?9, 0, ?9)");
  size_t added = 0;
  auto& statement = db->statement(kInsert);
  for (const NewQueueMessage& m : messages) {
    SqliteDb::Use use(statement);
    use.text(1, m.queue).text(2, m.topic).text(3, m.message_id).text(4, m.function_id).text(5, m.data);
    use.optional_text(6, m.group).text(7, m.traceparent).text(8, m.baggage).integer(9, now_ms);
    use.run();
    added += static_cast<size_t>(db->changes());
  }
  return added;
}

size_t SqliteQueueStore::enqueue(std::span<const NewQueueMessage> messages, int64_t now_ms) {
  std::lock_guard lock(core_->mu);
  SqliteDb::Transaction tx(*core_->db);
  const size_t added = core_->insert(messages, now_ms);
  tx.commit();
  return added;
}

size_t SqliteQueueStore::promote_due(int64_t now_ms) {
  static const std::string kPromote =
      sql("UPDATE messages SET state = {ready} WHERE state = {delayed} AND available_at <= ?1");
  std::lock_guard lock(core_->mu);
  SqliteDb::Use(core_->db->statement(kPromote)).integer(1, now_ms).run();
  return static_cast<size_t>(core_->db->changes());
}

bool SqliteQueueStore::Core::take_lease(int64_t seq, int64_t lease_until_ms, const std::string& holder,
                                        QueueMessage& out) {
  static const std::string kTake =
      sql(std::string("UPDATE messages SET state = {leased}, attempts = attempts + 1, available_at = ?2, owner = ?3 "
                      "WHERE seq = ?1 AND state = {ready} RETURNING ") +
          kMessageColumns);
  SqliteDb::Use use(db->statement(kTake));
  use.integer(1, seq).integer(2, lease_until_ms).text(3, holder);
  if (!use.step()) return false;
  out = read_message(use);
  use.run();
  return true;
}

std::vector<QueueMessage> SqliteQueueStore::Core::lease(std::string_view queue, size_t max, bool fifo,
                                                        int64_t lease_until_ms, const std::string& holder) {
  static const std::string kBlockedGroups =
      sql("SELECT DISTINCT COALESCE(grp, '') FROM messages WHERE queue = ?1 AND state IN ({delayed}, {leased})");
  static const std::string kReadyByGroup =
      sql("SELECT seq, COALESCE(grp, '') FROM messages WHERE queue = ?1 AND state = {ready} ORDER BY seq");
  // Standard: the first `max` READY messages, taken by one statement.
  static const std::string kTakeHeads =
      sql(std::string("UPDATE messages SET state = {leased}, attempts = attempts + 1, available_at = ?3, owner = ?4 "
                      "WHERE seq IN (SELECT seq FROM messages WHERE queue = ?1 AND state = {ready} ORDER BY seq "
                      "LIMIT ?2) RETURNING ") +
          kMessageColumns);
  std::vector<QueueMessage> out;
  if (max == 0) return out;
  if (!fifo) {
    SqliteDb::Use use(db->statement(kTakeHeads));
    use.text(1, queue).integer(2, static_cast<int64_t>(max)).integer(3, lease_until_ms).text(4, holder);
    while (use.step()) out.push_back(read_message(use));
    // RETURNING does not promise an order: deliveries start in enqueue order.
    std::sort(out.begin(), out.end(), [](const QueueMessage& a, const QueueMessage& b) { return a.seq < b.seq; });
    return out;
  }
  std::vector<int64_t> picked;
  {
    // A group is blocked while one of its messages is leased or waits for a retry; otherwise its
    // head is its first READY message. Every other READY message of a seen group waits.
    std::unordered_set<std::string> seen;
    {
      SqliteDb::Use use(db->statement(kBlockedGroups));
      use.text(1, queue);
      while (use.step()) seen.insert(use.text(0));
    }
    SqliteDb::Use use(db->statement(kReadyByGroup));
    use.text(1, queue);
    for (size_t scanned = 0; picked.size() < max && scanned < kFifoScanLimit && use.step(); ++scanned) {
      if (seen.insert(use.text(1)).second) picked.push_back(use.integer(0));
    }
  }
  for (int64_t seq : picked) {
    QueueMessage m;
    if (take_lease(seq, lease_until_ms, holder, m)) out.push_back(std::move(m));
  }
  return out;
}

std::vector<QueueMessage> SqliteQueueStore::lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms) {
  if (max == 0) return {};
  std::lock_guard lock(core_->mu);
  SqliteDb::Transaction tx(*core_->db);
  std::vector<QueueMessage> out = core_->lease(queue, max, fifo, lease_until_ms, holder_);
  tx.commit();
  return out;
}

bool SqliteQueueStore::Core::settle(const QueueSettlement& s) {
  static const std::string kAck = sql("DELETE FROM messages WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  static const std::string kRetry =
      sql("UPDATE messages SET state = ?3, available_at = ?4, last_error = ?5, owner = NULL "
          "WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  static const std::string kBury =
      sql("UPDATE messages SET state = {dead}, available_at = ?3, last_error = ?4, owner = NULL "
          "WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  static const std::string kRelease =
      sql("UPDATE messages SET state = ?3, available_at = ?4, attempts = attempts - 1, owner = NULL "
          "WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  const auto attempt = static_cast<int64_t>(s.attempt);
  switch (s.kind) {
    case QueueSettlement::Kind::kAck:
      SqliteDb::Use(db->statement(kAck)).integer(1, s.seq).integer(2, attempt).run();
      break;
    case QueueSettlement::Kind::kRetry: {
      SqliteDb::Use use(db->statement(kRetry));
      use.integer(1, s.seq).integer(2, attempt).integer(3, state_after_wait(s.retry_at_ms, s.now_ms));
      use.integer(4, s.retry_at_ms).text(5, s.error).run();
      break;
    }
    case QueueSettlement::Kind::kBury: {
      SqliteDb::Use use(db->statement(kBury));
      use.integer(1, s.seq).integer(2, attempt).integer(3, s.now_ms).text(4, s.error).run();
      break;
    }
    case QueueSettlement::Kind::kRelease: {
      SqliteDb::Use use(db->statement(kRelease));
      use.integer(1, s.seq).integer(2, attempt).integer(3, state_after_wait(s.retry_at_ms, s.now_ms));
      use.integer(4, s.retry_at_ms).run();
      break;
    }
  }
  return db->changes() == 1;
}

bool SqliteQueueStore::ack(int64_t seq, uint32_t attempt) {
  std::lock_guard lock(core_->mu);
  return core_->settle(QueueSettlement{QueueSettlement::Kind::kAck, seq, attempt, {}, 0, 0});
}

bool SqliteQueueStore::retry(int64_t seq, uint32_t attempt, std::string_view error, int64_t retry_at_ms, int64_t now_ms) {
  std::lock_guard lock(core_->mu);
  return core_->settle(
      QueueSettlement{QueueSettlement::Kind::kRetry, seq, attempt, std::string(error), retry_at_ms, now_ms});
}

bool SqliteQueueStore::bury(int64_t seq, uint32_t attempt, std::string_view error, int64_t now_ms) {
  std::lock_guard lock(core_->mu);
  return core_->settle(QueueSettlement{QueueSettlement::Kind::kBury, seq, attempt, std::string(error), 0, now_ms});
}

bool SqliteQueueStore::release(int64_t seq, uint32_t attempt, int64_t retry_at_ms, int64_t now_ms) {
  std::lock_guard lock(core_->mu);
  return core_->settle(QueueSettlement{QueueSettlement::Kind::kRelease, seq, attempt, {}, retry_at_ms, now_ms});
}

std::vector<QueueMessage> SqliteQueueStore::expired(int64_t now_ms, size_t max) {
  static const std::string kExpired =
      sql(std::string("SELECT ") + kMessageColumns +
          " FROM messages WHERE state = {leased} AND available_at <= ?1 ORDER BY available_at LIMIT ?2");
  std::lock_guard lock(core_->mu);
  std::vector<QueueMessage> out;
  SqliteDb::Use use(core_->db->statement(kExpired));
  use.integer(1, now_ms).integer(2, static_cast<int64_t>(max));
  while (use.step()) out.push_back(read_message(use));
  return out;
}

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

QueueCounts SqliteQueueStore::counts(const QueueScope& scope) {
  static const ScopedSql kCounts("SELECT state, COUNT(*) FROM messages WHERE {scope} = ?1 GROUP BY state");
  std::lock_guard lock(core_->mu);
  QueueCounts c;
  SqliteDb::Use use(core_->db->statement(kCounts.of(scope)));
  use.text(1, scope.name);
  while (use.step()) count_state(c, use.integer(0), static_cast<uint64_t>(use.integer(1)));
  return c;
}

std::vector<QueueSummary> SqliteQueueStore::summaries() {
  std::lock_guard lock(core_->mu);
  std::vector<QueueSummary> out;
  SqliteDb::Use use(core_->db->statement(
      "SELECT queue, topic, state, COUNT(*) FROM messages GROUP BY queue, topic, state ORDER BY queue, topic"));
  while (use.step()) {
    std::string queue = use.text(0), topic = use.text(1);
    if (out.empty() || out.back().queue != queue || out.back().topic != topic)
      out.push_back(QueueSummary{std::move(queue), std::move(topic), {}});
    count_state(out.back().counts, use.integer(2), static_cast<uint64_t>(use.integer(3)));
  }
  return out;
}

std::vector<DeadMessage> SqliteQueueStore::dead(const QueueScope& scope, size_t offset, size_t limit) {
  static const ScopedSql kDead(
      "SELECT queue, topic, message_id, function_id, data, last_error, available_at, attempts FROM messages "
      "WHERE {scope} = ?1 AND state = {dead} ORDER BY seq LIMIT ?2 OFFSET ?3");
  std::lock_guard lock(core_->mu);
  std::vector<DeadMessage> out;
  SqliteDb::Use use(core_->db->statement(kDead.of(scope)));
  use.text(1, scope.name).integer(2, static_cast<int64_t>(limit)).integer(3, static_cast<int64_t>(offset));
  while (use.step()) {
    out.push_back(DeadMessage{use.text(0), use.text(1), use.text(2), use.text(3), use.text(4), use.text(5),
                              use.integer(6), static_cast<uint32_t>(use.integer(7))});
  }
  return out;
}

size_t SqliteQueueStore::redrive(const QueueScope& scope, int64_t now_ms) {
  static const ScopedSql kRedrive(
      "UPDATE messages SET state = {ready}, attempts = 0, available_at = ?2, last_error = '' "
      "WHERE {scope} = ?1 AND state = {dead}");
  std::lock_guard lock(core_->mu);
  SqliteDb::Use(core_->db->statement(kRedrive.of(scope))).text(1, scope.name).integer(2, now_ms).run();
  return static_cast<size_t>(core_->db->changes());
}

bool SqliteQueueStore::redrive_message(const QueueScope& scope, std::string_view message_id, int64_t now_ms) {
  static const ScopedSql kRedriveOne(
      "UPDATE messages SET state = {ready}, attempts = 0, available_at = ?3, last_error = '' "
      "WHERE message_id = ?2 AND {scope} = ?1 AND state = {dead}");
  std::lock_guard lock(core_->mu);
  SqliteDb::Use use(core_->db->statement(kRedriveOne.of(scope)));
  use.text(1, scope.name).text(2, message_id).integer(3, now_ms).run();
  return core_->db->changes() > 0;
}

bool SqliteQueueStore::discard(const QueueScope& scope, std::string_view message_id) {
  static const ScopedSql kDiscard("DELETE FROM messages WHERE message_id = ?2 AND {scope} = ?1 AND state = {dead}");
  std::lock_guard lock(core_->mu);
  SqliteDb::Use(core_->db->statement(kDiscard.of(scope))).text(1, scope.name).text(2, message_id).run();
  return core_->db->changes() > 0;
}

}  // namespace iii
