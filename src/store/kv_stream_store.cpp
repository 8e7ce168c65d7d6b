#include "store/kv_stream_store.h"

#include <algorithm>
#include <stdexcept>

#include "store/memory_kv_store.h"
#include "store/redis_kv_store.h"
#include "store/sqlite_kv_store.h"

namespace iii {
namespace {

// Throws when `name` would break the scope encoding (a NUL would be read as the separator).
void check_name(std::string_view what, std::string_view name) {
  if (name.find('\0') != std::string_view::npos)
    throw std::invalid_argument("stream store: the " + std::string(what) + " name may not contain a NUL byte");
}

std::string scope_of(std::string_view stream, std::string_view group) {
  check_name("stream", stream);
  check_name("group", group);
  std::string scope;
  scope.reserve(stream.size() + 1 + group.size());
  scope.append(stream).push_back('\0');
  scope.append(group);
  return scope;
}

// The KvStore promises sorted and unique already; this keeps the promise even if one slips.
void sort_unique(std::vector<std::string>& names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

// The scope of (stream, group) into `scope`; false when a name is refused, which `done` is then
// answered with.
template <class T>
bool scope_or_answer(std::string_view stream, std::string_view group, std::string& scope, const KvDone<T>& done) {
  try {
    scope = scope_of(stream, group);
    return true;
  } catch (...) {
    done(std::current_exception(), T{});
    return false;
  }
}

// The groups of `stream` among the KvStore's sorted scopes.
std::vector<std::string> groups_of(std::string_view stream, const std::vector<std::string>& scopes) {
  std::string prefix(stream);
  prefix.push_back('\0');
  std::vector<std::string> groups;
  for (const std::string& scope : scopes) {
    if (scope.size() >= prefix.size() && scope.compare(0, prefix.size(), prefix) == 0)
      groups.push_back(scope.substr(prefix.size()));
  }
  sort_unique(groups);
  return groups;
}

// The stream and group of a scope, split at its first NUL (scope_of).
std::pair<std::string_view, std::string_view> split_scope(std::string_view scope) {
  const size_t nul = scope.find('\0');
  return {scope.substr(0, nul), scope.substr(nul + 1)};
}

// Every stream with its groups, from the KvStore's scopes.
std::vector<StreamStore::StreamGroups> streams_of(std::vector<std::string> scopes) {
  std::vector<StreamStore::StreamGroups> out;
  // Sorted scopes: those of one stream are contiguous, their groups in order (see the top).
  sort_unique(scopes);
  for (const std::string& scope : scopes) {
    if (scope.find('\0') == std::string::npos) continue;  // not written by a KvStreamStore: not a stream
    const auto [stream, group] = split_scope(scope);
    if (out.empty() || out.back().stream != stream) out.push_back(StreamStore::StreamGroups{std::string(stream), {}});
    out.back().groups.emplace_back(group);
  }
  return out;
}

}  // namespace

KvStreamStore::KvStreamStore(std::shared_ptr<KvStore> kv, bool publishes_changes)
    : kv_(std::move(kv)), publishes_changes_(publishes_changes) {
  if (!kv_) throw std::invalid_argument("KvStreamStore: null KvStore");
}

std::optional<std::string> KvStreamStore::get(std::string_view stream, std::string_view group,
                                              std::string_view item) {
  return kv_->get(scope_of(stream, group), item);
}

std::optional<std::string> KvStreamStore::set(std::string_view stream, std::string_view group, std::string_view item,
                                              std::string_view value) {
  return kv_->set(scope_of(stream, group), item, value);
}

std::optional<std::string> KvStreamStore::remove(std::string_view stream, std::string_view group,
                                                 std::string_view item) {
  return kv_->remove(scope_of(stream, group), item);
}

KvUpdate KvStreamStore::update(std::string_view stream, std::string_view group, std::string_view item,
                               const KvUpdateFn& fn) {
  return kv_->update(scope_of(stream, group), item, fn);
}

std::vector<std::string> KvStreamStore::list(std::string_view stream, std::string_view group) {
  return kv_->list(scope_of(stream, group));
}

std::vector<std::string> KvStreamStore::list_groups(std::string_view stream) {
  check_name("stream", stream);
  return groups_of(stream, kv_->list_groups());
}

std::vector<std::string> KvStreamStore::list_streams() {
  std::vector<std::string> streams;
  for (StreamGroups& s : list_all()) streams.push_back(std::move(s.stream));
  return streams;
}

std::vector<StreamStore::StreamGroups> KvStreamStore::list_all() { return streams_of(kv_->list_groups()); }

void KvStreamStore::list_all_async(KvDone<std::vector<StreamGroups>> done) {
  kv_->list_groups_async([done = std::move(done)](std::exception_ptr e, std::vector<std::string> scopes) {
    if (e) return done(e, {});
    done(nullptr, streams_of(std::move(scopes)));
  });
}

void KvStreamStore::get_async(std::string_view stream, std::string_view group, std::string_view item,
                              KvDone<std::optional<std::string>> done) {
  if (std::string scope; scope_or_answer(stream, group, scope, done)) kv_->get_async(scope, item, std::move(done));
}

void KvStreamStore::set_async(std::string_view stream, std::string_view group, std::string_view item,
                              std::string_view value, KvDone<std::optional<std::string>> done) {
  if (std::string scope; scope_or_answer(stream, group, scope, done))
    kv_->set_async(scope, item, value, std::move(done));
}

void KvStreamStore::remove_async(std::string_view stream, std::string_view group, std::string_view item,
                                 KvDone<std::optional<std::string>> done) {
  if (std::string scope; scope_or_answer(stream, group, scope, done)) kv_->remove_async(scope, item, std::move(done));
}

void KvStreamStore::update_async(std::string_view stream, std::string_view group, std::string_view item, KvUpdateFn fn,
                                 KvDone<KvUpdate> done) {
  if (std::string scope; scope_or_answer(stream, group, scope, done))
    kv_->update_async(scope, item, std::move(fn), std::move(done));
}

void KvStreamStore::list_async(std::string_view stream, std::string_view group, KvDone<std::vector<std::string>> done) {
  std::string scope;
  if (!scope_or_answer(stream, group, scope, done)) return;
  kv_->entries_async(scope, [done = std::move(done)](std::exception_ptr e, std::vector<KvEntry> entries) {
    if (e) return done(e, {});
    std::vector<std::string> values;
    values.reserve(entries.size());
    for (KvEntry& entry : entries) values.push_back(std::move(entry.value));
    done(nullptr, std::move(values));
  });
}

void KvStreamStore::list_groups_async(std::string_view stream, KvDone<std::vector<std::string>> done) {
  try {
    check_name("stream", stream);
  } catch (...) {
    return done(std::current_exception(), {});
  }
  kv_->list_groups_async([stream = std::string(stream), done = std::move(done)](std::exception_ptr e,
                                                                                std::vector<std::string> scopes) {
    if (e) return done(e, {});
    done(nullptr, groups_of(stream, scopes));
  });
}

std::shared_ptr<StreamStore> open_memory_stream_store() {
  return std::make_shared<KvStreamStore>(std::make_shared<MemoryKvStore>());
}

std::shared_ptr<StreamStore> open_sqlite_stream_store(const std::filesystem::path& file) {
  return std::make_shared<KvStreamStore>(std::make_shared<SqliteKvStore>(file));
}

std::shared_ptr<StreamStore> open_redis_stream_store(std::shared_ptr<RedisClient> client, StreamChangeFeed feed) {
  RedisKvLayout layout = redis_kv_layout("stream");
  layout.hash_name = [](std::string_view scope) {  // "s\0g" → "s:g"
    const auto [stream, group] = split_scope(scope);
    return std::string(stream) + ":" + std::string(group);
  };
  layout.foreign_scope = [](std::string_view rest) -> std::optional<std::string> {  // "s:g" → "s\0g"
    const size_t colon = rest.find(':');
    if (colon == std::string_view::npos || rest.find('\0') != std::string_view::npos) return std::nullopt;
    std::string scope(rest);
    scope[colon] = '\0';
    return scope;
  };
  const bool publishes = !feed.channel.empty();
  if (publishes) {
    layout.channel = std::move(feed.channel);
    layout.change_text = [text = std::move(feed.text)](std::string_view scope, std::string_view item) {
      const auto [stream, group] = split_scope(scope);
      return text(stream, group, item);
    };
  }
  return std::make_shared<KvStreamStore>(make_redis_kv_store(std::move(client), std::move(layout)), publishes);
}

}  // namespace iii
