#include "store/sqlite_kv_store.h"

#include <sqlite3.h>

#include <cstring>
#include <system_error>

namespace iii {
namespace {

constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS kv ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"  // insertion order; an upsert keeps it
    "  scope TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  UNIQUE (scope, key));"
    "CREATE INDEX IF NOT EXISTS kv_scope_order ON kv (scope, id);"
    "PRAGMA user_version = 1;";

}  // namespace

// A prepared statement, reused: every use binds, steps, and resets (Use does the reset).
class SqliteKvStore::Statement {
 public:
  Statement(SqliteKvStore& store, const char* sql) : store_(store) {
    int rc = sqlite3_prepare_v3(store.db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) store.fail(std::string("prepare `") + sql + "`", rc);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // One use of the statement. Bound text must outlive the Use (SQLITE_STATIC, no copy).
  class Use {
   public:
    explicit Use(Statement& s) : s_(s) {}
    ~Use() {
      sqlite3_reset(s_.stmt_);
      sqlite3_clear_bindings(s_.stmt_);
    }
    Use& bind(int index, std::string_view text) {
      // A null pointer would bind SQL NULL; an empty key or scope is a valid (empty) string.
      const char* data = text.data() ? text.data() : "";
      int rc = sqlite3_bind_text(s_.stmt_, index, data, static_cast<int>(text.size()), SQLITE_STATIC);
      if (rc != SQLITE_OK) s_.store_.fail("bind", rc);
      return *this;
    }
    // True when a row is available, false when the statement is done.
    bool step() {
      int rc = sqlite3_step(s_.stmt_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      s_.store_.fail(sqlite3_sql(s_.stmt_), rc);
    }
    std::string text(int column) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_.stmt_, column));
      const int n = sqlite3_column_bytes(s_.stmt_, column);
      return p ? std::string(p, static_cast<size_t>(n)) : std::string();
    }

   private:
    Statement& s_;
  };

 private:
  SqliteKvStore& store_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE … COMMIT; rolls back unless commit() was reached.
class SqliteKvStore::Transaction {
 public:
  explicit Transaction(SqliteKvStore& store) : store_(store) { Statement::Use(*store.begin_).step(); }
  ~Transaction() {
    if (!committed_) {
      try {
        Statement::Use(*store_.rollback_).step();
      } catch (const KvStoreError&) {
        // SQLite rolls back by itself when a statement failed hard; nothing more to do.
      }
    }
  }
  void commit() {
    Statement::Use(*store_.commit_).step();
    committed_ = true;
  }

 private:
  SqliteKvStore& store_;
  bool committed_ = false;
};

SqliteKvStore::SqliteKvStore(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec)
      throw KvStoreError("cannot create directory " + path.parent_path().string() + " for the store " +
                         path.string() + ": " + ec.message());
  }
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if (db_ && sqlite3_system_errno(db_)) reason += std::string(" (") + std::strerror(sqlite3_system_errno(db_)) + ")";
    sqlite3_close(db_);
    db_ = nullptr;
    throw KvStoreError("cannot open the store " + path.string() + ": " + reason);
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    {
      // journal_mode answers with the mode in effect; anything but "wal" means it did not take.
      Statement mode(*this, "PRAGMA journal_mode = WAL");
      Statement::Use use(mode);
      if (!use.step() || use.text(0) != "wal")
        throw KvStoreError("cannot open the store " + path.string() + ": WAL journal mode unavailable");
    }
    exec("PRAGMA synchronous = NORMAL");
    exec(kSchema);
    get_ = std::make_unique<Statement>(*this, "SELECT value FROM kv WHERE scope = ?1 AND key = ?2");
    put_ = std::make_unique<Statement>(*this,
                                       "INSERT INTO kv (scope, key, value) VALUES (?1, ?2, ?3) "
                                       "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value");
    delete_ = std::make_unique<Statement>(*this, "DELETE FROM kv WHERE scope = ?1 AND key = ?2");
    list_ = std::make_unique<Statement>(*this, "SELECT key, value FROM kv WHERE scope = ?1 ORDER BY id");
    groups_ = std::make_unique<Statement>(*this, "SELECT DISTINCT scope FROM kv ORDER BY scope");
    begin_ = std::make_unique<Statement>(*this, "BEGIN IMMEDIATE");
    commit_ = std::make_unique<Statement>(*this, "COMMIT");
    rollback_ = std::make_unique<Statement>(*this, "ROLLBACK");
  } catch (...) {
    get_.reset(), put_.reset(), delete_.reset(), list_.reset(), groups_.reset();
    begin_.reset(), commit_.reset(), rollback_.reset();
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteKvStore::~SqliteKvStore() {
  get_.reset(), put_.reset(), delete_.reset(), list_.reset(), groups_.reset();
  begin_.reset(), commit_.reset(), rollback_.reset();
  sqlite3_close(db_);  // checkpoints the WAL into the database file
}

void SqliteKvStore::fail(std::string_view what, int rc) {
  std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  throw KvStoreError("store " + path_.string() + ": " + std::string(what) + ": " + reason);
}

void SqliteKvStore::exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string reason = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw KvStoreError("cannot initialise the store " + path_.string() + ": " + reason);
  }
}

std::optional<std::string> SqliteKvStore::get_locked(std::string_view scope, std::string_view key) {
  Statement::Use use(*get_);
  use.bind(1, scope).bind(2, key);
  if (!use.step()) return std::nullopt;
  return use.text(0);
}

void SqliteKvStore::put_locked(std::string_view scope, std::string_view key, std::string_view value) {
  Statement::Use use(*put_);
  use.bind(1, scope).bind(2, key).bind(3, value);
  use.step();
}

std::optional<std::string> SqliteKvStore::get(std::string_view scope, std::string_view key) {
  std::lock_guard lock(mu_);
  return get_locked(scope, key);
}

std::optional<std::string> SqliteKvStore::set(std::string_view scope, std::string_view key, std::string_view value) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  std::optional<std::string> previous = get_locked(scope, key);
  put_locked(scope, key, value);
  tx.commit();
  return previous;
}

std::optional<std::string> SqliteKvStore::remove(std::string_view scope, std::string_view key) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  std::optional<std::string> previous = get_locked(scope, key);
  if (!previous) return std::nullopt;  // nothing to delete; the transaction rolls back
  {
    Statement::Use use(*delete_);
    use.bind(1, scope).bind(2, key);
    use.step();
  }
  tx.commit();
  return previous;
}

KvUpdate SqliteKvStore::update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  KvUpdate out;
  out.old_value = get_locked(scope, key);
  std::optional<std::string> next = fn(out.old_value);  // may throw: the transaction rolls back
  if (!next) {
    out.new_value = out.old_value;
    return out;
  }
  put_locked(scope, key, *next);
  tx.commit();
  out.new_value = std::move(next);
  return out;
}

std::vector<std::string> SqliteKvStore::list(std::string_view scope) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  Statement::Use use(*list_);
  use.bind(1, scope);
  while (use.step()) out.push_back(use.text(1));
  return out;
}

std::vector<KvEntry> SqliteKvStore::entries(std::string_view scope) {
  std::lock_guard lock(mu_);
  std::vector<KvEntry> out;
  Statement::Use use(*list_);
  use.bind(1, scope);
  while (use.step()) out.push_back(KvEntry{use.text(0), use.text(1)});
  return out;
}

std::vector<std::string> SqliteKvStore::list_groups() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  Statement::Use use(*groups_);
  while (use.step()) out.push_back(use.text(0));
  return out;
}

}  // namespace iii
