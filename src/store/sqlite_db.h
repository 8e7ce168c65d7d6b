// SqliteDb: the one SQLite connection wrapper behind every embedded store (key-value, queue).
//
// Opening does the same for every store: create missing parent directories, open read-write,
// switch to WAL with synchronous=NORMAL (a committed transaction is in the WAL file, which
// survives `kill -9` of the process; an OS crash may lose the last commits, never corrupt the
// file), apply the schema, and refuse a file that SQLite could only open read-only.
//
// Statements are prepared once per SQL text and reused; Use binds, steps and resets one of them.
// Every failure throws the store's own error type (through the `raise` of Options), with a
// message naming the store and its path.
//
// Not thread-safe: the owning store serialises calls with its own mutex.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace iii {

class SqliteDb {
 public:
  struct Options {
    std::string label;   // "store", "queue store": how messages name this database
    std::string schema;  // SQL run once after opening (CREATE TABLE IF NOT EXISTS …)
    // Throws the store's error type. It must not return.
    std::function<void(const std::string& message)> raise;
  };

  // Opens (creating if needed) `path`; ":memory:" opens a private in-memory database.
  SqliteDb(const std::filesystem::path& path, Options options);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  class Statement;

  // One use of a prepared statement: bind, step, read columns; the destructor resets it.
  // Bound text must outlive the Use (SQLITE_STATIC: nothing is copied).
  class Use {
   public:
    explicit Use(Statement& statement);
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

    Use& text(int index, std::string_view value);
    Use& optional_text(int index, const std::optional<std::string>& value);  // nullopt binds NULL
    Use& integer(int index, int64_t value);
    Use& null(int index);
    bool step();  // true: a row is available; false: done
    void run();   // steps to the end
    std::string text(int column);
    std::optional<std::string> optional_text(int column);  // NULL reads as nullopt
    int64_t integer(int column);

   private:
    SqliteDb& db_;
    sqlite3_stmt* stmt_;
  };

  // The prepared statement for `sql`, prepared on first use and kept until the database closes
  // (the reference stays valid: a store on a hot path keeps it instead of looking it up).
  Statement& statement(const std::string& sql);
  // Runs SQL without results (DDL, PRAGMA).
  void exec(const char* sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t changes() const;

  // BEGIN IMMEDIATE … COMMIT; rolls back unless commit() was reached.
  class Transaction {
   public:
    explicit Transaction(SqliteDb& db);
    ~Transaction();
    void commit();

   private:
    SqliteDb& db_;
    bool committed_ = false;
  };

  const std::filesystem::path& path() const { return path_; }

 private:
  [[noreturn]] void fail(std::string_view what, int rc);
  [[noreturn]] void raise(const std::string& message);
  void close();

  const std::filesystem::path path_;
  Options options_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Statement>> statements_;
  Statement* begin_ = nullptr;   // BEGIN IMMEDIATE and COMMIT, prepared at open: every write
  Statement* commit_ = nullptr;  // transaction uses them
};

}  // namespace iii
