#include "store/memory_kv_store.h"

#include <mutex>

namespace iii {

KvEntry* MemoryKvStore::find_locked(std::string_view scope, std::string_view key) {
  auto s = scopes_.find(scope);
  if (s == scopes_.end()) return nullptr;
  auto seq = s->second.seq_of.find(key);
  if (seq == s->second.seq_of.end()) return nullptr;
  return &s->second.by_seq.at(seq->second);
}

void MemoryKvStore::put_locked(std::string_view scope, std::string_view key, std::string value) {
  if (KvEntry* e = find_locked(scope, key)) {
    e->value = std::move(value);  // an overwrite keeps the key's place
    return;
  }
  auto s = scopes_.find(scope);
  if (s == scopes_.end()) s = scopes_.emplace(std::string(scope), Scope{}).first;
  const uint64_t seq = next_seq_++;
  s->second.by_seq.emplace(seq, KvEntry{std::string(key), std::move(value)});
  s->second.seq_of.emplace(std::string(key), seq);
}

std::optional<std::string> MemoryKvStore::get(std::string_view scope, std::string_view key) {
  std::shared_lock lock(mu_);
  if (const KvEntry* e = find_locked(scope, key)) return e->value;
  return std::nullopt;
}

std::optional<std::string> MemoryKvStore::set(std::string_view scope, std::string_view key, std::string_view value) {
  std::unique_lock lock(mu_);
  std::optional<std::string> previous;
  if (KvEntry* e = find_locked(scope, key)) previous = std::move(e->value);
  put_locked(scope, key, std::string(value));
  return previous;
}

std::optional<std::string> MemoryKvStore::remove(std::string_view scope, std::string_view key) {
  std::unique_lock lock(mu_);
  auto s = scopes_.find(scope);
  if (s == scopes_.end()) return std::nullopt;
  auto seq = s->second.seq_of.find(key);
  if (seq == s->second.seq_of.end()) return std::nullopt;
  auto entry = s->second.by_seq.find(seq->second);
  std::string removed = std::move(entry->second.value);
  s->second.by_seq.erase(entry);
  s->second.seq_of.erase(seq);
  if (s->second.by_seq.empty()) scopes_.erase(s);
  return removed;
}

KvUpdate MemoryKvStore::update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) {
  std::unique_lock lock(mu_);
  KvUpdate out;
  if (const KvEntry* e = find_locked(scope, key)) out.old_value = e->value;
  std::optional<std::string> next = fn(out.old_value);  // may throw: nothing changed yet
  if (!next) {
    out.new_value = out.old_value;
    return out;
  }
  out.new_value = *next;
  put_locked(scope, key, std::move(*next));
  return out;
}

std::vector<std::string> MemoryKvStore::list(std::string_view scope) {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  auto s = scopes_.find(scope);
  if (s == scopes_.end()) return out;
  out.reserve(s->second.by_seq.size());
  for (const auto& [seq, e] : s->second.by_seq) out.push_back(e.value);
  return out;
}

std::vector<KvEntry> MemoryKvStore::entries(std::string_view scope) {
  std::shared_lock lock(mu_);
  std::vector<KvEntry> out;
  auto s = scopes_.find(scope);
  if (s == scopes_.end()) return out;
  out.reserve(s->second.by_seq.size());
  for (const auto& [seq, e] : s->second.by_seq) out.push_back(e);
  return out;
}

std::vector<std::string> MemoryKvStore::list_groups() {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(scopes_.size());
  for (const auto& [name, s] : scopes_) out.push_back(name);
  return out;
}

}  // namespace iii
