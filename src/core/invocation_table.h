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
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "core/error_body.h"
#include "wire/uuid.h"

namespace iii {

using Clock = std::chrono::steady_clock;
using Completion = std::function<void(Outcome)>;

// An observer's record of one call in flight (engine/invocation_observer.h makes them);
// finish() runs exactly once, with the outcome.
class CallObservation {
 public:
  virtual ~CallObservation() = default;
  // The traceparent the callee gets (naming the observer's span), or empty to forward the caller's.
  virtual std::string_view child_traceparent() const = 0;
  virtual void finish(const Outcome& outcome) = 0;
};

// Workers are named by Endpoint::serial() here: a number, so that an entry copies no id string.
struct PendingInvocation {
  std::string function_id;
  uint64_t callee = 0;  // the endpoint the call was routed to
  uint64_t caller = 0;  // the calling endpoint; 0 for engine-originated calls
  Clock::time_point deadline;
  std::shared_ptr<CallObservation> observation;  // null when the call is not observed
  Completion on_complete;  // may be empty: nobody waits (void calls)

  // Closes the observation, then hands the outcome to whoever waits. Called once, by whoever
  // took the entry.
  void finish(Outcome outcome) {
    if (observation) observation->finish(outcome);
    if (on_complete) on_complete(std::move(outcome));
  }
};

enum class TakeStatus { kTaken, kUnknownId, kWrongSender };

class InvocationTable {
 public:
  explicit InvocationTable(size_t capacity) : capacity_(capacity) {}

  // Adds an entry under a fresh id (new_uuid_text: the engine makes every invocation id).
  // Returns false (and adds nothing) when the table is full.
  bool add(const UuidText& id, PendingInvocation&& entry);

  // Takes the entry `id` if the endpoint `sender` is its callee. REQUIRES: out != nullptr.
  TakeStatus take_result(std::string_view id, uint64_t sender, PendingInvocation* out);

  // Takes the entry `id` whoever its callee is (used by the engine itself).
  std::optional<PendingInvocation> take(std::string_view id);

  // Takes every entry in which the endpoint `worker` is the caller or the callee.
  std::vector<PendingInvocation> take_worker(uint64_t worker);

  // Takes every entry whose deadline is before `now`, with the ids they were stored under.
  std::vector<std::pair<std::string, PendingInvocation>> take_expired(Clock::time_point now);

  size_t size() const;
  // How many entries route to the endpoint `worker` (engine::workers::list's active_invocations).
  size_t count_for_callee(uint64_t worker) const;

 private:
  static constexpr size_t kShards = 16;
  // Ids are random UUIDs: eight of their hexadecimal digits are hash enough.
  struct IdHash {
    size_t operator()(const UuidText& id) const noexcept {
      uint64_t word;
      std::memcpy(&word, id.data() + 24, sizeof word);  // inside the last group: no dash
      return std::hash<uint64_t>{}(word);
    }
  };
  struct alignas(64) Shard {  // a cache line each: shards used by different threads do not share one
    mutable std::mutex mu;
    boost::unordered_flat_map<UuidText, PendingInvocation, IdHash> entries;
  };
  Shard& shard_for(const UuidText& id);
  // Takes the entry `id` if `sender` (when given) is its callee.
  TakeStatus take_entry(std::string_view id, const uint64_t* sender, PendingInvocation* out);
  // The key of `id`, or nullopt when it cannot be one (not 36 characters).
  static std::optional<UuidText> key_of(std::string_view id);

  const size_t capacity_;
  std::atomic<size_t> size_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace iii
