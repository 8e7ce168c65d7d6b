// The table of invocations the engine is waiting on: invocation id → who gets the outcome.
//
// Sharded by id so that concurrent calls on different connections rarely share a lock. Every
// entry carries a deadline: take_expired() hands back the ones past it, so nothing waits forever.
// Each entry is taken exactly once (by its result, its deadline, or its worker's teardown), and
// whoever takes it runs its completion.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>


#include "core/error_body.h"
#include "core/string_map.h"

namespace iii {

using Clock = std::chrono::steady_clock;
using Completion = std::function<void(Outcome)>;

struct PendingInvocation {
  std::string function_id;
  std::string callee_worker_id;  // the worker the call was routed to
  std::string caller_worker_id;  // empty for engine-originated calls
  Clock::time_point deadline;
  Completion on_complete;  // may be empty: nobody waits (void calls)
};

enum class TakeStatus { kTaken, kUnknownId, kWrongSender };

class InvocationTable {
 public:
  explicit InvocationTable(size_t capacity) : capacity_(capacity) {}

  // Adds an entry. Returns false (and adds nothing) when the table is full.
  bool add(std::string id, PendingInvocation&& entry);

  // Takes the entry `id` if `sender_worker_id` is its callee. REQUIRES: out != nullptr.
  TakeStatus take_result(std::string_view id, std::string_view sender_worker_id, PendingInvocation* out);

  // Takes the entry `id` whoever its callee is (used by the engine itself).
  std::optional<PendingInvocation> take(std::string_view id);

  // Takes every entry in which `worker_id` is the caller or the callee.
  std::vector<PendingInvocation> take_worker(std::string_view worker_id);

  // Takes every entry whose deadline is before `now`, with the ids they were stored under.
  std::vector<std::pair<std::string, PendingInvocation>> take_expired(Clock::time_point now);

  size_t size() const;
  // How many entries route to `worker_id` (for engine::workers::list's active_invocations).
  size_t count_for_callee(std::string_view worker_id) const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    StringMap<PendingInvocation> entries;
  };
  Shard& shard_for(std::string_view id);

  const size_t capacity_;
  std::atomic<size_t> size_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace iii
