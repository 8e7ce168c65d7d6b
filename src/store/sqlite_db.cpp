#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <cstdlib>
#include <cstring>
#include <system_error>

namespace iii {
namespace {

constexpr int kBusyTimeoutMs = 5000;

}  // namespace

// A prepared statement. Uses are strictly sequential (the store's mutex), so one object serves
// every use of its SQL text.
class SqliteDb::Statement {
 public:
  Statement(SqliteDb& db, const std::string& sql) : db_(db) {
    const int rc = sqlite3_prepare_v3(db.db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) db.fail("prepare `" + sql + "`", rc);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// --- opening and closing ---

SqliteDb::SqliteDb(const std::filesystem::path& path, Options options) : path_(path), options_(std::move(options)) {
  const bool in_memory = path == ":memory:";
  const std::string opening = "cannot open the " + options_.label + " " + path.string() + ": ";
  if (!in_memory && path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec)
      raise("cannot create directory " + path.parent_path().string() + " for the " + options_.label + " " +
            path.string() + ": " + ec.message());
  }
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if (db_ && sqlite3_system_errno(db_)) reason += std::string(" (") + std::strerror(sqlite3_system_errno(db_)) + ")";
    close();
    raise(opening + reason);
  }
  std::string failure;
  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    if (!in_memory) {
      // journal_mode answers with the mode in effect; anything but "wal" means it did not take.
      Use mode(statement("PRAGMA journal_mode = WAL"));
      if (!mode.step() || mode.text(0) != "wal") failure = "WAL journal mode unavailable";
    }
    if (failure.empty()) {
      exec("PRAGMA synchronous = NORMAL");
      if (!options_.schema.empty()) exec(options_.schema.c_str());
      // SQLite falls back to read-only when the file cannot be written: refuse that up front.
      if (sqlite3_db_readonly(db_, "main") == 1) failure = "the database file is read-only";
      begin_ = &statement("BEGIN IMMEDIATE");
      commit_ = &statement("COMMIT");
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    close();
    raise(failure.find(path.string()) == std::string::npos ? opening + failure : failure);
  }
}

SqliteDb::~SqliteDb() { close(); }

void SqliteDb::close() {
  statements_.clear();  // finalized before the connection closes
  if (db_) sqlite3_close(db_);  // checkpoints the WAL into the database file
  db_ = nullptr;
}

void SqliteDb::raise(const std::string& message) {
  options_.raise(message);
  std::abort();  // Options::raise must throw
}

void SqliteDb::fail(std::string_view what, int rc) {
  const std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  raise(options_.label + " " + path_.string() + ": " + std::string(what) + ": " + reason);
}

void SqliteDb::exec(const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return;
  const std::string reason = error ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  raise(options_.label + " " + path_.string() + ": " + reason);
}

int64_t SqliteDb::changes() const { return sqlite3_changes(db_); }

SqliteDb::Statement& SqliteDb::statement(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) it = statements_.emplace(sql, std::make_unique<Statement>(*this, sql)).first;
  return *it->second;
}

// --- Use ---

SqliteDb::Use::Use(Statement& statement) : db_(statement.db_), stmt_(statement.stmt_) {}

SqliteDb::Use::~Use() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

SqliteDb::Use& SqliteDb::Use::text(int index, std::string_view value) {
  // A null pointer would bind SQL NULL; an empty key or scope is a valid (empty) string.
  const int rc =
      sqlite3_bind_text(stmt_, index, value.data() ? value.data() : "", static_cast<int>(value.size()), SQLITE_STATIC);
  if (rc != SQLITE_OK) db_.fail("bind", rc);
  return *this;
}

SqliteDb::Use& SqliteDb::Use::optional_text(int index, const std::optional<std::string>& value) {
  return value ? text(index, std::string_view(*value)) : null(index);
}

SqliteDb::Use& SqliteDb::Use::integer(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_.fail("bind", rc);
  return *this;
}

SqliteDb::Use& SqliteDb::Use::null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_.fail("bind", rc);
  return *this;
}

bool SqliteDb::Use::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail(sqlite3_sql(stmt_), rc);
}

void SqliteDb::Use::run() {
  while (step()) {
  }
}

std::string SqliteDb::Use::text(int column) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, column))) : std::string();
}

std::optional<std::string> SqliteDb::Use::optional_text(int column) {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return text(column);
}

int64_t SqliteDb::Use::integer(int column) { return sqlite3_column_int64(stmt_, column); }

// --- Transaction ---

SqliteDb::Transaction::Transaction(SqliteDb& db) : db_(db) { Use(*db.begin_).run(); }

SqliteDb::Transaction::~Transaction() {
  // SQLite has already rolled back when a statement failed hard; a second ROLLBACK then fails
  // harmlessly, so its result is ignored (a destructor must not throw).
  if (!committed_) sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void SqliteDb::Transaction::commit() {
  Use(*db_.commit_).run();
  committed_ = true;
}

}  // namespace iii
