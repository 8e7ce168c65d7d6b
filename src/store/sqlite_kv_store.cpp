#include "store/sqlite_kv_store.h"

namespace iii {
namespace {

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

// Every statement is prepared at open (a bad one fails there, not on the first call) and kept:
// a call uses it directly, without looking its text up.
SqliteKvStore::SqliteKvStore(const std::filesystem::path& path)
    : db_(std::make_unique<SqliteDb>(
          path, SqliteDb::Options{"store", kSchema, [](const std::string& m) { throw KvStoreError(m); }})),
      get_(db_->statement("SELECT value FROM kv WHERE scope = ?1 AND key = ?2")),
      put_(db_->statement("INSERT INTO kv (scope, key, value) VALUES (?1, ?2, ?3) "
                          "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value")),
      delete_(db_->statement("DELETE FROM kv WHERE scope = ?1 AND key = ?2")),
      list_(db_->statement("SELECT key, value FROM kv WHERE scope = ?1 ORDER BY id")),
      groups_(db_->statement("SELECT DISTINCT scope FROM kv ORDER BY scope")) {}

SqliteKvStore::~SqliteKvStore() = default;

std::optional<std::string> SqliteKvStore::get_locked(std::string_view scope, std::string_view key) {
  SqliteDb::Use use(get_);
  use.text(1, scope).text(2, key);
  if (!use.step()) return std::nullopt;
  return use.text(0);
}

void SqliteKvStore::put_locked(std::string_view scope, std::string_view key, std::string_view value) {
  SqliteDb::Use use(put_);
  use.text(1, scope).text(2, key).text(3, value).run();
}

std::optional<std::string> SqliteKvStore::get(std::string_view scope, std::string_view key) {
  std::lock_guard lock(mu_);
  return get_locked(scope, key);
}

std::optional<std::string> SqliteKvStore::set(std::string_view scope, std::string_view key, std::string_view value) {
  std::lock_guard lock(mu_);
  SqliteDb::Transaction tx(*db_);
  std::optional<std::string> previous = get_locked(scope, key);
  put_locked(scope, key, value);
  tx.commit();
  return previous;
}

std::optional<std::string> SqliteKvStore::remove(std::string_view scope, std::string_view key) {
  std::lock_guard lock(mu_);
  SqliteDb::Transaction tx(*db_);
  std::optional<std::string> previous = get_locked(scope, key);
  if (!previous) return std::nullopt;  // nothing to delete; the transaction rolls back
  {
    SqliteDb::Use use(delete_);
    use.text(1, scope).text(2, key).run();
  }
  tx.commit();
  return previous;
}

KvUpdate SqliteKvStore::update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) {
  std::lock_guard lock(mu_);
  SqliteDb::Transaction tx(*db_);
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
  SqliteDb::Use use(list_);
  use.text(1, scope);
  while (use.step()) out.push_back(use.text(1));
  return out;
}

std::vector<KvEntry> SqliteKvStore::entries(std::string_view scope) {
  std::lock_guard lock(mu_);
  std::vector<KvEntry> out;
  SqliteDb::Use use(list_);
  use.text(1, scope);
  while (use.step()) out.push_back(KvEntry{use.text(0), use.text(1)});
  return out;
}

std::vector<std::string> SqliteKvStore::list_groups() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  SqliteDb::Use use(groups_);
  while (use.step()) out.push_back(use.text(0));
  return out;
}

}  // namespace iii
