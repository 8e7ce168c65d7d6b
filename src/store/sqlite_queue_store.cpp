#include "store/sqlite_queue_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/uuid.h"

namespace iii {
namespace {

constexpr int kBusyTimeoutMs = 5000;
enum State : int64_t { kReady = 0, kDelayed = 1, kLeased = 2, kDead = 3 };

// `seq` never comes back after a delete (AUTOINCREMENT), so (seq, attempts) names one lease for
// good: a late answer cannot complete a newer message that reused the number.
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS messages ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  queue TEXT NOT NULL, topic TEXT NOT NULL, message_id TEXT NOT NULL, function_id TEXT NOT NULL,"
    "  data TEXT NOT NULL, grp TEXT, traceparent TEXT NOT NULL, baggage TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  available_at INTEGER NOT NULL,"  // READY: enqueued; DELAYED: retry time; LEASED: deadline; DEAD: failed at
    "  attempts INTEGER NOT NULL, owner TEXT, last_error TEXT NOT NULL DEFAULT '', enqueued_at INTEGER NOT NULL,"
    "  UNIQUE (message_id, queue));"
    "CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, state, seq);"
    "CREATE INDEX IF NOT EXISTS messages_due ON messages (state, available_at);"
    "PRAGMA user_version = 1;";

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

// A prepared statement, reused: every use binds, steps and resets (Use does the reset).
class SqliteQueueStore::Statement {
 public:
  Statement(SqliteQueueStore& store, const std::string& sql) : store_(store) {
    int rc = sqlite3_prepare_v3(store.db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) store.fail("prepare `" + sql + "`", rc);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // One use. Bound text must outlive the Use (SQLITE_STATIC, no copy).
  class Use {
   public:
    explicit Use(Statement& s) : s_(s) {}
    ~Use() {
      sqlite3_reset(s_.stmt_);
      sqlite3_clear_bindings(s_.stmt_);
    }
    Use& text(int i, std::string_view v) {
      check(sqlite3_bind_text(s_.stmt_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC));
      return *this;
    }
    Use& optional_text(int i, const std::optional<std::string>& v) {
      if (!v) return null(i);
      return text(i, std::string_view(*v));
    }
    Use& integer(int i, int64_t v) {
      check(sqlite3_bind_int64(s_.stmt_, i, v));
      return *this;
    }
    Use& null(int i) {
      check(sqlite3_bind_null(s_.stmt_, i));
      return *this;
    }
    bool step() {  // true: a row is available
      int rc = sqlite3_step(s_.stmt_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      s_.store_.fail(sqlite3_sql(s_.stmt_), rc);
    }
    void run() {
      while (step()) {
      }
    }
    std::string str(int c) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_.stmt_, c));
      return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_.stmt_, c))) : std::string();
    }
    std::optional<std::string> opt_str(int c) {
      if (sqlite3_column_type(s_.stmt_, c) == SQLITE_NULL) return std::nullopt;
      return str(c);
    }
    int64_t integer(int c) { return sqlite3_column_int64(s_.stmt_, c); }
    // A message row selected with kMessageColumns starting at column `c`.
    QueueMessage message(int c = 0) {
      QueueMessage m;
      m.seq = integer(c);
      m.queue = str(c + 1), m.topic = str(c + 2), m.message_id = str(c + 3), m.function_id = str(c + 4);
      m.data = str(c + 5), m.group = opt_str(c + 6), m.traceparent = str(c + 7), m.baggage = str(c + 8);
      m.attempt = static_cast<uint32_t>(integer(c + 9));
      m.last_error = str(c + 10);
      return m;
    }

   private:
    void check(int rc) {
      if (rc != SQLITE_OK) s_.store_.fail("bind", rc);
    }
    Statement& s_;
  };

 private:
  SqliteQueueStore& store_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Prepared statements by SQL text, built on first use.
struct SqliteQueueStore::Statements {
  std::unordered_map<std::string, std::unique_ptr<Statement>> by_sql;
};

// BEGIN IMMEDIATE … COMMIT; rolls back unless commit() was reached.
class SqliteQueueStore::Transaction {
 public:
  explicit Transaction(SqliteQueueStore& store) : store_(store) { store.exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!committed_) sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    store_.exec("COMMIT");
    committed_ = true;
  }

 private:
  SqliteQueueStore& store_;
  bool committed_ = false;
};

// flock() on `<db>.lock`, shared by every store of this process on the same path.
class SqliteQueueStore::FileLock {
 public:
  explicit FileLock(const std::filesystem::path& db) : key_(std::filesystem::absolute(db).lexically_normal().string()) {
    std::lock_guard lock(mu());
    auto& e = table()[key_];
    if (e.refs++ > 0) return;
    const std::string file = key_ + ".lock";
    e.fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (e.fd < 0) {
      const std::string why = std::strerror(errno);
      table().erase(key_);
      throw QueueStoreError("cannot open the queue store " + key_ + ": cannot create " + file + ": " + why);
    }
    if (::flock(e.fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(e.fd);
      table().erase(key_);
      throw QueueStoreError("cannot open the queue store " + key_ +
                            ": it is in use by another process (another iii engine on the same data directory?)");
    }
  }
  ~FileLock() {
    std::lock_guard lock(mu());
    auto it = table().find(key_);
    if (it == table().end() || --it->second.refs > 0) return;
    ::close(it->second.fd);  // releases the flock
    table().erase(it);
  }

 private:
  struct Entry {
    int fd = -1;
    int refs = 0;
  };
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::map<std::string, Entry>& table() {
    static std::map<std::string, Entry> t;
    return t;
  }
  const std::string key_;
};

SqliteQueueStore::SqliteQueueStore(const std::filesystem::path& path)
    : path_(path), holder_(new_holder_token()), st_(std::make_unique<Statements>()) {
  const bool in_memory = path == ":memory:";
  if (!in_memory) {
    std::error_code ec;
    if (path.has_parent_path()) {
      std::filesystem::create_directories(path.parent_path(), ec);
      if (ec)
        throw QueueStoreError("cannot create directory " + path.parent_path().string() + " for the queue store " +
                              path.string() + ": " + ec.message());
    }
    lock_ = std::make_unique<FileLock>(path);
  }
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if (db_ && sqlite3_system_errno(db_)) reason += std::string(" (") + std::strerror(sqlite3_system_errno(db_)) + ")";
    sqlite3_close(db_);
    db_ = nullptr;
    throw QueueStoreError("cannot open the queue store " + path.string() + ": " + reason);
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    if (!in_memory) {
      Statement mode(*this, "PRAGMA journal_mode = WAL");
      Statement::Use use(mode);
      if (!use.step() || use.str(0) != "wal")
        throw QueueStoreError("cannot open the queue store " + path.string() + ": WAL journal mode unavailable");
    }
    exec("PRAGMA synchronous = NORMAL");
    exec(kSchema);
    // SQLite falls back to read-only when the file cannot be written: refuse that up front.
    if (sqlite3_db_readonly(db_, "main") == 1) throw QueueStoreError("the database file is read-only");
  } catch (const QueueStoreError& e) {
    close();
    throw QueueStoreError(std::string(e.what()).find(path.string()) == std::string::npos
                              ? "cannot open the queue store " + path.string() + ": " + e.what()
                              : e.what());
  }
  std::lock_guard lock(g_holders_mu);
  g_live_holders.insert(holder_);
}

SqliteQueueStore::~SqliteQueueStore() {
  {
    std::lock_guard lock(g_holders_mu);
    g_live_holders.erase(holder_);
  }
  close();
}

void SqliteQueueStore::close() {
  st_->by_sql.clear();
  sqlite3_close(db_);  // checkpoints the WAL into the database file
  db_ = nullptr;
}

void SqliteQueueStore::fail(std::string_view what, int rc) {
  std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  throw QueueStoreError("queue store " + path_.string() + ": " + std::string(what) + ": " + reason);
}

void SqliteQueueStore::exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string reason = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw QueueStoreError("queue store " + path_.string() + ": " + reason);
  }
}

namespace {
// Scoped statements come in two flavours: by queue or by topic.
std::string scoped(const char* before, const QueueScope& scope, const char* after) {
  return std::string(before) + (scope.is_topic ? "topic" : "queue") + after;
}
}  // namespace

SqliteQueueStore::Statement& SqliteQueueStore::statement(const std::string& sql) {
  auto it = st_->by_sql.find(sql);
  if (it == st_->by_sql.end()) it = st_->by_sql.emplace(sql, std::make_unique<Statement>(*this, sql)).first;
  return *it->second;
}

size_t SqliteQueueStore::enqueue(std::span<const NewQueueMessage> messages, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  size_t added = 0;
  auto& insert = statement(
      "INSERT OR IGNORE INTO messages (queue, topic, message_id, function_id, data, grp, traceparent, baggage, "
      "state, available_at, attempts, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, 0, ?9)");
  for (const NewQueueMessage& m : messages) {
    Statement::Use use(insert);
    use.text(1, m.queue).text(2, m.topic).text(3, m.message_id).text(4, m.function_id).text(5, m.data);
    use.optional_text(6, m.group).text(7, m.traceparent).text(8, m.baggage).integer(9, now_ms);
    use.run();
    added += static_cast<size_t>(sqlite3_changes(db_));
  }
  tx.commit();
  return added;
}

size_t SqliteQueueStore::promote_due(int64_t now_ms) {
  std::lock_guard lock(mu_);
  Statement::Use use(statement("UPDATE messages SET state = 0 WHERE state = 1 AND available_at <= ?1"));
  use.integer(1, now_ms).run();
  return static_cast<size_t>(sqlite3_changes(db_));
}

bool SqliteQueueStore::take_lease(int64_t seq, int64_t lease_until_ms, QueueMessage& out) {
  Statement::Use use(statement(
      std::string("UPDATE messages SET state = 2, attempts = attempts + 1, available_at = ?2, owner = ?3 "
                  "WHERE seq = ?1 AND state = 0 RETURNING ") +
      kMessageColumns));
  use.integer(1, seq).integer(2, lease_until_ms).text(3, holder_);
  if (!use.step()) return false;
  out = use.message();
  use.run();
  return true;
}

std::vector<QueueMessage> SqliteQueueStore::lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms) {
  std::vector<QueueMessage> out;
  if (max == 0) return out;
  std::lock_guard lock(mu_);
  std::vector<int64_t> picked;
  if (!fifo) {
    Statement::Use use(statement("SELECT seq FROM messages WHERE queue = ?1 AND state = 0 ORDER BY seq LIMIT ?2"));
    use.text(1, queue).integer(2, static_cast<int64_t>(max));
    while (use.step()) picked.push_back(use.integer(0));
  } else {
    // A group is blocked while one of its messages is leased or waits for a retry; otherwise its
    // head is its first READY message. Every other READY message of a seen group waits.
    std::unordered_set<std::string> seen;
    {
      Statement::Use use(statement(
          "SELECT DISTINCT COALESCE(grp, '') FROM messages WHERE queue = ?1 AND state IN (1, 2)"));
      use.text(1, queue);
      while (use.step()) seen.insert(use.str(0));
    }
    Statement::Use use(statement("SELECT seq, COALESCE(grp, '') FROM messages WHERE queue = ?1 AND state = 0 ORDER BY seq"));
    use.text(1, queue);
    for (size_t scanned = 0; picked.size() < max && scanned < kFifoScanLimit && use.step(); ++scanned) {
      if (seen.insert(use.str(1)).second) picked.push_back(use.integer(0));
    }
  }
  if (picked.empty()) return out;
  Transaction tx(*this);
  for (int64_t seq : picked) {
    QueueMessage m;
    if (take_lease(seq, lease_until_ms, m)) out.push_back(std::move(m));
  }
  tx.commit();
  return out;
}

bool SqliteQueueStore::ack(int64_t seq, uint32_t attempt) {
  std::lock_guard lock(mu_);
  Statement::Use use(statement("DELETE FROM messages WHERE seq = ?1 AND state = 2 AND attempts = ?2"));
  use.integer(1, seq).integer(2, attempt).run();
  return sqlite3_changes(db_) == 1;
}

bool SqliteQueueStore::retry(int64_t seq, uint32_t attempt, std::string_view error, int64_t retry_at_ms, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Statement::Use use(statement(
      "UPDATE messages SET state = ?3, available_at = ?4, last_error = ?5, owner = NULL "
      "WHERE seq = ?1 AND state = 2 AND attempts = ?2"));
  use.integer(1, seq).integer(2, attempt).integer(3, retry_at_ms <= now_ms ? kReady : kDelayed);
  use.integer(4, retry_at_ms).text(5, error).run();
  return sqlite3_changes(db_) == 1;
}

bool SqliteQueueStore::bury(int64_t seq, uint32_t attempt, std::string_view error, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Statement::Use use(statement(
      "UPDATE messages SET state = 3, available_at = ?3, last_error = ?4, owner = NULL "
      "WHERE seq = ?1 AND state = 2 AND attempts = ?2"));
  use.integer(1, seq).integer(2, attempt).integer(3, now_ms).text(4, error).run();
  return sqlite3_changes(db_) == 1;
}

bool SqliteQueueStore::release(int64_t seq, uint32_t attempt, int64_t retry_at_ms, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Statement::Use use(statement(
      "UPDATE messages SET state = ?3, available_at = ?4, attempts = attempts - 1, owner = NULL "
      "WHERE seq = ?1 AND state = 2 AND attempts = ?2"));
  use.integer(1, seq).integer(2, attempt).integer(3, retry_at_ms <= now_ms ? kReady : kDelayed).integer(4, retry_at_ms);
  use.run();
  return sqlite3_changes(db_) == 1;
}

std::vector<QueueMessage> SqliteQueueStore::expired(int64_t now_ms, size_t max) {
  std::lock_guard lock(mu_);
  std::vector<QueueMessage> out;
  Statement::Use use(statement(std::string("SELECT ") + kMessageColumns +
                                   " FROM messages WHERE state = 2 AND available_at <= ?1 ORDER BY available_at LIMIT ?2"));
  use.integer(1, now_ms).integer(2, static_cast<int64_t>(max));
  while (use.step()) out.push_back(use.message());
  return out;
}

size_t SqliteQueueStore::recover(int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<std::optional<std::string>> gone;
  {
    Statement::Use use(statement("SELECT DISTINCT owner FROM messages WHERE state = 2"));
    std::lock_guard holders(g_holders_mu);
    while (use.step()) {
      std::optional<std::string> owner = use.opt_str(0);
      if (!owner || !g_live_holders.count(*owner)) gone.push_back(std::move(owner));
    }
  }
  if (gone.empty()) return 0;
  Transaction tx(*this);
  size_t n = 0;
  for (const auto& owner : gone) {
    Statement::Use use(statement("UPDATE messages SET state = 0, owner = NULL WHERE state = 2 AND owner IS ?1"));
    use.optional_text(1, owner).run();
    n += static_cast<size_t>(sqlite3_changes(db_));
  }
  tx.commit();
  return n;
}

QueueCounts SqliteQueueStore::counts(const QueueScope& scope) {
  std::lock_guard lock(mu_);
  QueueCounts c;
  Statement::Use use(statement(scoped("SELECT state, COUNT(*) FROM messages WHERE ", scope, " = ?1 GROUP BY state")));
  use.text(1, scope.name);
  while (use.step()) {
    const auto n = static_cast<uint64_t>(use.integer(1));
    switch (use.integer(0)) {
      case kReady: c.ready = n; break;
      case kDelayed: c.delayed = n; break;
      case kLeased: c.leased = n; break;
      default: c.dead = n; break;
    }
  }
  return c;
}

std::vector<QueueSummary> SqliteQueueStore::summaries() {
  std::lock_guard lock(mu_);
  std::vector<QueueSummary> out;
  Statement::Use use(statement(
      "SELECT queue, topic, state, COUNT(*) FROM messages GROUP BY queue, topic, state ORDER BY queue, topic"));
  while (use.step()) {
    std::string queue = use.str(0), topic = use.str(1);
    if (out.empty() || out.back().queue != queue || out.back().topic != topic)
      out.push_back(QueueSummary{std::move(queue), std::move(topic), {}});
    const auto n = static_cast<uint64_t>(use.integer(3));
    QueueCounts& c = out.back().counts;
    switch (use.integer(2)) {
      case kReady: c.ready = n; break;
      case kDelayed: c.delayed = n; break;
      case kLeased: c.leased = n; break;
      default: c.dead = n; break;
    }
  }
  return out;
}

std::vector<DeadMessage> SqliteQueueStore::dead(const QueueScope& scope, size_t offset, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<DeadMessage> out;
  Statement::Use use(statement(scoped(
      "SELECT queue, topic, message_id, function_id, data, last_error, available_at, attempts FROM messages WHERE ",
      scope, " = ?1 AND state = 3 ORDER BY seq LIMIT ?2 OFFSET ?3")));
  use.text(1, scope.name).integer(2, static_cast<int64_t>(limit)).integer(3, static_cast<int64_t>(offset));
  while (use.step()) {
    out.push_back(DeadMessage{use.str(0), use.str(1), use.str(2), use.str(3), use.str(4), use.str(5), use.integer(6),
                              static_cast<uint32_t>(use.integer(7))});
  }
  return out;
}

size_t SqliteQueueStore::redrive(const QueueScope& scope, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Statement::Use use(statement(scoped(
      "UPDATE messages SET state = 0, attempts = 0, available_at = ?2, last_error = '' WHERE ", scope,
      " = ?1 AND state = 3")));
  use.text(1, scope.name).integer(2, now_ms).run();
  return static_cast<size_t>(sqlite3_changes(db_));
}

bool SqliteQueueStore::redrive_message(const QueueScope& scope, std::string_view message_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Statement::Use use(statement(scoped(
      "UPDATE messages SET state = 0, attempts = 0, available_at = ?3, last_error = '' WHERE message_id = ?2 AND ",
      scope, " = ?1 AND state = 3")));
  use.text(1, scope.name).text(2, message_id).integer(3, now_ms).run();
  return sqlite3_changes(db_) > 0;
}

bool SqliteQueueStore::discard(const QueueScope& scope, std::string_view message_id) {
  std::lock_guard lock(mu_);
  Statement::Use use(
      statement(scoped("DELETE FROM messages WHERE message_id = ?2 AND ", scope, " = ?1 AND state = 3")));
  use.text(1, scope.name).text(2, message_id).run();
  return sqlite3_changes(db_) > 0;
}

}  // namespace iii
