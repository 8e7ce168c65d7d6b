// The SQLite queue store's statements (store/sqlite_queue_store.h): the operations the writer
// runs inside its batches (Core::insert, lease, settle) and the synchronous reads and admin calls.
// The writer, the store's life and lease recovery are in sqlite_queue_store.cpp.
#include <algorithm>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "store/sqlite_queue_core.h"

namespace iii {
namespace {

using sqlite_queue::MessageState;
using sqlite_queue::sql;

int64_t state_after_wait(int64_t retry_at_ms, int64_t now_ms) {
  return static_cast<int64_t>(retry_at_ms <= now_ms ? MessageState::kReady : MessageState::kDelayed);
}

constexpr const char* kMessageColumns =
    "seq, queue, topic, message_id, function_id, data, grp, traceparent, baggage, attempts, last_error";

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
