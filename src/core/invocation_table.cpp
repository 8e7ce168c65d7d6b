#include "core/invocation_table.h"

namespace iii {

InvocationTable::Shard& InvocationTable::shard_for(std::string_view id) {
  return shards_[std::hash<std::string_view>{}(id) % kShards];
}

bool InvocationTable::add(std::string id, PendingInvocation&& entry) {
  if (size_.fetch_add(1) >= capacity_) {
    size_.fetch_sub(1);
    return false;
  }
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.entries.try_emplace(std::move(id), std::move(entry));
  if (!inserted) size_.fetch_sub(1);  // ids are fresh UUIDs; a duplicate keeps the first entry
  return inserted;
}

TakeStatus InvocationTable::take_result(std::string_view id, std::string_view sender, PendingInvocation* out) {
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(id);
  if (it == shard.entries.end()) return TakeStatus::kUnknownId;
  if (it->second.callee_worker_id != sender) return TakeStatus::kWrongSender;
  *out = std::move(it->second);
  shard.entries.erase(it);
  size_.fetch_sub(1);
  return TakeStatus::kTaken;
}

std::optional<PendingInvocation> InvocationTable::take(std::string_view id) {
  Shard& shard = shard_for(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(id);
  if (it == shard.entries.end()) return std::nullopt;
  PendingInvocation out = std::move(it->second);
  shard.entries.erase(it);
  size_.fetch_sub(1);
  return out;
}

std::vector<PendingInvocation> InvocationTable::take_worker(std::string_view worker_id) {
  std::vector<PendingInvocation> out;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    size_.fetch_sub(boost::unordered::erase_if(shard.entries, [&](auto& kv) {
      if (kv.second.callee_worker_id != worker_id && kv.second.caller_worker_id != worker_id) return false;
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
      out.emplace_back(kv.first, std::move(kv.second));
      return true;
    }));
  }
  return out;
}

size_t InvocationTable::size() const { return size_.load(); }

size_t InvocationTable::count_for_callee(std::string_view worker_id) const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (const auto& [id, e] : shard.entries)
      if (e.callee_worker_id == worker_id) ++n;
  }
  return n;
}

}  // namespace iii
