// The engine's own counters (docs/observability.md "Metrics"): invocations by function and
// outcome, their latency, deferred (enqueued) calls and worker life cycles. Recording is lock-free
// on the call path except a shared lock to find a function's row; everything else (windows for
// alerts and rollups, percentiles, the Prometheus text) is computed when asked.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace iii::obs {

// A latency histogram in nanoseconds with log-spaced buckets (4 per power of two, from 1 µs to
// ~9 minutes): percentiles within ~19%, lock-free recording.
class LatencyHistogram {
 public:
  static constexpr size_t kBuckets = 120;
  void record(uint64_t nanos);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t sum_nanos() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t min_nanos() const;
  uint64_t max_nanos() const { return max_.load(std::memory_order_relaxed); }
  // The value below which `q` (0..1) of the recorded values fall; 0 when empty.
  double quantile_nanos(double q) const;
  // Cumulative counts at or below each of `upper_bounds_seconds` (ascending), for Prometheus.
  std::vector<uint64_t> cumulative(const std::vector<double>& upper_bounds_seconds) const;

 private:
  static size_t bucket_of(uint64_t nanos);
  static double bucket_upper(size_t index);
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0}, sum_{0}, max_{0};
  std::atomic<uint64_t> min_{UINT64_MAX};
};

struct FunctionCounters {
  std::atomic<uint64_t> success{0}, error{0};
  LatencyHistogram latency;
};

// One 10-second slot of the counters' history (deltas).
struct MetricsSlot {
  uint64_t unix_seconds = 0;  // slot start
  uint64_t total = 0, success = 0, error = 0, deferred = 0, duration_nanos = 0;
  uint64_t workers_active = 0;
};

class EngineMetrics {
 public:
  static constexpr size_t kMaxFunctions = 10000;  // beyond it new ids count under "(other)"

  void record_call(std::string_view function_id, bool ok, uint64_t duration_nanos) {
    record_call(counters_for(function_id), ok, duration_nanos);
  }
  // The same with the function's row looked up once (the tracer keeps it with the call's names).
  void record_call(FunctionCounters& row, bool ok, uint64_t duration_nanos);
  // The row of one function; stable for the life of this object.
  FunctionCounters& counters_for(std::string_view function_id);
  void record_deferred() { deferred_.fetch_add(1, std::memory_order_relaxed); }
  void worker_connected();
  void worker_disconnected();

  uint64_t total() const { return success() + error(); }
  uint64_t success() const { return success_.load(std::memory_order_relaxed); }
  uint64_t error() const { return error_.load(std::memory_order_relaxed); }
  uint64_t deferred() const { return deferred_.load(std::memory_order_relaxed); }
  uint64_t spawns() const { return spawns_.load(std::memory_order_relaxed); }
  uint64_t deaths() const { return deaths_.load(std::memory_order_relaxed); }
  int64_t active_workers() const { return static_cast<int64_t>(spawns()) - static_cast<int64_t>(deaths()); }
  const LatencyHistogram& latency() const { return latency_; }

  // Visits every function's counters (under the shared lock).
  template <class Fn>
  void for_each_function(Fn&& fn) const {
    std::shared_lock lock(functions_mu_);
    for (const auto& [id, c] : functions_) fn(id, *c);
  }

  // Closes the current 10 s slot when its time is over (called by a timer); keeps
  // `retention_seconds` of slots.
  void roll(uint64_t now_unix_seconds, uint64_t retention_seconds);
  std::vector<MetricsSlot> slots() const;
  // The sum of the slots (and the open one) within the last `window_seconds`.
  MetricsSlot window(uint64_t now_unix_seconds, uint64_t window_seconds) const;

 private:
  std::atomic<uint64_t> success_{0}, error_{0}, deferred_{0}, spawns_{0}, deaths_{0};
  LatencyHistogram latency_;
  mutable std::shared_mutex functions_mu_;
  std::map<std::string, std::unique_ptr<FunctionCounters>, std::less<>> functions_;

  mutable std::mutex slots_mu_;
  std::deque<MetricsSlot> slots_;
  MetricsSlot last_totals_;  // cumulative values at the last roll
  uint64_t slot_start_ = 0;
  std::atomic<uint64_t> duration_total_{0};
};

}  // namespace iii::obs
