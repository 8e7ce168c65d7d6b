#include "core/invocation_table.h"

namespace iii {

InvocationTable::Shard& InvocationTable::shard_for(const UuidText& id) {
  const char c = id[0];  // a random hexadecimal digit: the shard
  const unsigned digit = c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>((c | 0x20) - 'a' + 10);
  return shards_[digit % kShards];
}

std::optional<UuidText> InvocationTable::key_of(std::string_view id) {
  if (id.size() != std::tuple_size_v<UuidText>) return std::nullopt;
  UuidText key;
  std::memcpy(key.data(), id.data(), key.size());
  return key;
}

bool InvocationTable::add(const UuidText& id, PendingInvocation&& entry) {
  if (size_.fetch_add(1) >= capacity_) {
    size_.fetch_sub(1);
    return false;
  }
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.entries.try_emplace(id, std::move(entry));
  if (!inserted) size_.fetch_sub(1);  // ids are fresh UUIDs; a duplicate keeps the first entry
  return inserted;
}

TakeStatus InvocationTable::take_entry(std::string_view id, const uint64_t* sender, PendingInvocation* out) {
  const std::optional<UuidText> key = key_of(id);
  if (!key) return TakeStatus::kUnknownId;
  Shard& shard = shard_for(*key);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(*key);
  if (it == shard.entries.end()) return TakeStatus::kUnknownId;
  if (sender && it->second.callee != *sender) return TakeStatus::kWrongSender;
  *out = std::move(it->second);
  shard.entries.erase(it);
  size_.fetch_sub(1);
  return TakeStatus::kTaken;
}

TakeStatus InvocationTable::take_result(std::string_view id, uint64_t sender, PendingInvocation* out) {
  return take_entry(id, &sender, out);
}

std::optional<PendingInvocation> InvocationTable::take(std::string_view id) {
  PendingInvocation out;
  if (take_entry(id, nullptr, &out) != TakeStatus::kTaken) return std::nullopt;
  return out;
}

std::vector<PendingInvocation> InvocationTable::take_worker(uint64_t worker) {
  std::vector<PendingInvocation> out;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    size_.fetch_sub(boost::unordered::erase_if(shard.entries, [&](auto& kv) {
      if (kv.second.callee != worker && kv.second.caller != worker) return false;
      out.push_back(std::move(kv.second));
      return true;
    }));
  }
  return out;
}

std::vector<std::pair<std::string, PendingInvocation>> InvocationTable::take_expired(Clock::time_point now) {
  std::vector<std::pair<std::string, PendingInvocation>> out;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    size_.fetch_sub(boost::unordered::erase_if(shard.entries, [&](auto& kv) {
      if (kv.second.deadline > now) return false;
      out.emplace_back(std::string(kv.first.data(), kv.first.size()), std::move(kv.second));
      return true;
    }));
  }
  return out;
}

size_t InvocationTable::size() const { return size_.load(); }

size_t InvocationTable::count_for_callee(uint64_t worker) const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (const auto& [id, e] : shard.entries)
      if (e.callee == worker) ++n;
  }
  return n;
}

}  // namespace iii
