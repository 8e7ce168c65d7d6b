#include "store/sqlite_queue_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <unordered_set>

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

SqliteQueueStore::SqliteQueueStore(const std::filesystem::path& path) : holder_(new_holder_token()) {
  // Opening first creates the directory and reports a bad path clearly; two engines opening the
  // same file at once is safe for SQLite, and the lock then refuses the second.
  db_ = std::make_unique<SqliteDb>(
      path, SqliteDb::Options{"queue store", kSchema, [](const std::string& m) { throw QueueStoreError(m); }});
  if (path != ":memory:") lock_ = std::make_unique<FileLock>(path);
  std::lock_guard lock(g_holders_mu);
  g_live_holders.insert(holder_);
}

SqliteQueueStore::~SqliteQueueStore() {
  {
    std::lock_guard lock(g_holders_mu);
    g_live_holders.erase(holder_);
  }
  db_.reset();  // closes the database before the file lock goes
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

size_t SqliteQueueStore::enqueue(std::span<const NewQueueMessage> messages, int64_t now_ms) {
  static const std::string kInsert = sql(
      "INSERT OR IGNORE INTO messages (queue, topic, message_id, function_id, data, grp, traceparent, baggage, "
      "state, available_at, attempts, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, {ready}, ?9, 0, ?9)");
  std::lock_guard lock(mu_);
  SqliteDb::Transaction tx(*db_);
  size_t added = 0;
  auto& insert = db_->statement(kInsert);
  for (const NewQueueMessage& m : messages) {
    SqliteDb::Use use(insert);
    use.text(1, m.queue).text(2, m.topic).text(3, m.message_id).text(4, m.function_id).text(5, m.data);
    use.optional_text(6, m.group).text(7, m.traceparent).text(8, m.baggage).integer(9, now_ms);
    use.run();
    added += static_cast<size_t>(db_->changes());
  }
  tx.commit();
  return added;
}

size_t SqliteQueueStore::promote_due(int64_t now_ms) {
  static const std::string kPromote =
      sql("UPDATE messages SET state = {ready} WHERE state = {delayed} AND available_at <= ?1");
  std::lock_guard lock(mu_);
  SqliteDb::Use(db_->statement(kPromote)).integer(1, now_ms).run();
  return static_cast<size_t>(db_->changes());
}

bool SqliteQueueStore::take_lease(int64_t seq, int64_t lease_until_ms, QueueMessage& out) {
  static const std::string kTake =
      sql(std::string("UPDATE messages SET state = {leased}, attempts = attempts + 1, available_at = ?2, owner = ?3 "
                      "WHERE seq = ?1 AND state = {ready} RETURNING ") +
          kMessageColumns);
  SqliteDb::Use use(db_->statement(kTake));
  use.integer(1, seq).integer(2, lease_until_ms).text(3, holder_);
  if (!use.step()) return false;
  out = read_message(use);
  use.run();
  return true;
}

std::vector<QueueMessage> SqliteQueueStore::lease(std::string_view queue, size_t max, bool fifo, int64_t lease_until_ms) {
  static const std::string kReadyHeads =
      sql("SELECT seq FROM messages WHERE queue = ?1 AND state = {ready} ORDER BY seq LIMIT ?2");
  static const std::string kBlockedGroups =
      sql("SELECT DISTINCT COALESCE(grp, '') FROM messages WHERE queue = ?1 AND state IN ({delayed}, {leased})");
  static const std::string kReadyByGroup =
      sql("SELECT seq, COALESCE(grp, '') FROM messages WHERE queue = ?1 AND state = {ready} ORDER BY seq");
  std::vector<QueueMessage> out;
  if (max == 0) return out;
  std::lock_guard lock(mu_);
  std::vector<int64_t> picked;
  if (!fifo) {
    SqliteDb::Use use(db_->statement(kReadyHeads));
    use.text(1, queue).integer(2, static_cast<int64_t>(max));
    while (use.step()) picked.push_back(use.integer(0));
  } else {
    // A group is blocked while one of its messages is leased or waits for a retry; otherwise its
    // head is its first READY message. Every other READY message of a seen group waits.
    std::unordered_set<std::string> seen;
    {
      SqliteDb::Use use(db_->statement(kBlockedGroups));
      use.text(1, queue);
      while (use.step()) seen.insert(use.text(0));
    }
    SqliteDb::Use use(db_->statement(kReadyByGroup));
    use.text(1, queue);
    for (size_t scanned = 0; picked.size() < max && scanned < kFifoScanLimit && use.step(); ++scanned) {
      if (seen.insert(use.text(1)).second) picked.push_back(use.integer(0));
    }
  }
  if (picked.empty()) return out;
  SqliteDb::Transaction tx(*db_);
  for (int64_t seq : picked) {
    QueueMessage m;
    if (take_lease(seq, lease_until_ms, m)) out.push_back(std::move(m));
  }
  tx.commit();
  return out;
}

bool SqliteQueueStore::ack(int64_t seq, uint32_t attempt) {
  static const std::string kAck = sql("DELETE FROM messages WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  std::lock_guard lock(mu_);
  SqliteDb::Use(db_->statement(kAck)).integer(1, seq).integer(2, attempt).run();
  return db_->changes() == 1;
}

bool SqliteQueueStore::retry(int64_t seq, uint32_t attempt, std::string_view error, int64_t retry_at_ms, int64_t now_ms) {
  static const std::string kRetry =
      sql("UPDATE messages SET state = ?3, available_at = ?4, last_error = ?5, owner = NULL "
          "WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  std::lock_guard lock(mu_);
  SqliteDb::Use use(db_->statement(kRetry));
  use.integer(1, seq).integer(2, attempt).integer(3, state_after_wait(retry_at_ms, now_ms));
  use.integer(4, retry_at_ms).text(5, error).run();
  return db_->changes() == 1;
}

bool SqliteQueueStore::bury(int64_t seq, uint32_t attempt, std::string_view error, int64_t now_ms) {
  static const std::string kBury =
      sql("UPDATE messages SET state = {dead}, available_at = ?3, last_error = ?4, owner = NULL "
          "WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  std::lock_guard lock(mu_);
  SqliteDb::Use use(db_->statement(kBury));
  use.integer(1, seq).integer(2, attempt).integer(3, now_ms).text(4, error).run();
  return db_->changes() == 1;
}

bool SqliteQueueStore::release(int64_t seq, uint32_t attempt, int64_t retry_at_ms, int64_t now_ms) {
  static const std::string kRelease =
      sql("UPDATE messages SET state = ?3, available_at = ?4, attempts = attempts - 1, owner = NULL "
          "WHERE seq = ?1 AND state = {leased} AND attempts = ?2");
  std::lock_guard lock(mu_);
  SqliteDb::Use use(db_->statement(kRelease));
  use.integer(1, seq).integer(2, attempt).integer(3, state_after_wait(retry_at_ms, now_ms)).integer(4, retry_at_ms);
  use.run();
  return db_->changes() == 1;
}

std::vector<QueueMessage> SqliteQueueStore::expired(int64_t now_ms, size_t max) {
  static const std::string kExpired =
      sql(std::string("SELECT ") + kMessageColumns +
          " FROM messages WHERE state = {leased} AND available_at <= ?1 ORDER BY available_at LIMIT ?2");
  std::lock_guard lock(mu_);
  std::vector<QueueMessage> out;
  SqliteDb::Use use(db_->statement(kExpired));
  use.integer(1, now_ms).integer(2, static_cast<int64_t>(max));
  while (use.step()) out.push_back(read_message(use));
  return out;
}

size_t SqliteQueueStore::recover(int64_t now_ms) {
  static const std::string kOwners = sql("SELECT DISTINCT owner FROM messages WHERE state = {leased}");
  static const std::string kRequeue =
      sql("UPDATE messages SET state = {ready}, owner = NULL WHERE state = {leased} AND owner IS ?1");
  std::lock_guard lock(mu_);
  std::vector<std::optional<std::string>> gone;
  {
    SqliteDb::Use use(db_->statement(kOwners));
    std::lock_guard holders(g_holders_mu);
    while (use.step()) {
      std::optional<std::string> owner = use.optional_text(0);
      if (!owner || !g_live_holders.count(*owner)) gone.push_back(std::move(owner));
    }
  }
  if (gone.empty()) return 0;
  SqliteDb::Transaction tx(*db_);
  size_t n = 0;
  for (const auto& owner : gone) {
    SqliteDb::Use(db_->statement(kRequeue)).optional_text(1, owner).run();
    n += static_cast<size_t>(db_->changes());
  }
  tx.commit();
  return n;
}

QueueCounts SqliteQueueStore::counts(const QueueScope& scope) {
  static const ScopedSql kCounts("SELECT state, COUNT(*) FROM messages WHERE {scope} = ?1 GROUP BY state");
  std::lock_guard lock(mu_);
  QueueCounts c;
  SqliteDb::Use use(db_->statement(kCounts.of(scope)));
  use.text(1, scope.name);
  while (use.step()) count_state(c, use.integer(0), static_cast<uint64_t>(use.integer(1)));
  return c;
}

std::vector<QueueSummary> SqliteQueueStore::summaries() {
  std::lock_guard lock(mu_);
  std::vector<QueueSummary> out;
  SqliteDb::Use use(db_->statement(
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
  std::lock_guard lock(mu_);
  std::vector<DeadMessage> out;
  SqliteDb::Use use(db_->statement(kDead.of(scope)));
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
  std::lock_guard lock(mu_);
  SqliteDb::Use(db_->statement(kRedrive.of(scope))).text(1, scope.name).integer(2, now_ms).run();
  return static_cast<size_t>(db_->changes());
}

bool SqliteQueueStore::redrive_message(const QueueScope& scope, std::string_view message_id, int64_t now_ms) {
  static const ScopedSql kRedriveOne(
      "UPDATE messages SET state = {ready}, attempts = 0, available_at = ?3, last_error = '' "
      "WHERE message_id = ?2 AND {scope} = ?1 AND state = {dead}");
  std::lock_guard lock(mu_);
  SqliteDb::Use use(db_->statement(kRedriveOne.of(scope)));
  use.text(1, scope.name).text(2, message_id).integer(3, now_ms).run();
  return db_->changes() > 0;
}

bool SqliteQueueStore::discard(const QueueScope& scope, std::string_view message_id) {
  static const ScopedSql kDiscard("DELETE FROM messages WHERE message_id = ?2 AND {scope} = ?1 AND state = {dead}");
  std::lock_guard lock(mu_);
  SqliteDb::Use(db_->statement(kDiscard.of(scope))).text(1, scope.name).text(2, message_id).run();
  return db_->changes() > 0;
}

}  // namespace iii
