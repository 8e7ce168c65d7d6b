#include "workers/observability/engine_metrics.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace iii::obs {
namespace {

constexpr uint64_t kSlotSeconds = 10;
constexpr uint64_t kFirstBucketNanos = 1000;  // 1 µs: everything faster counts in bucket 0

}  // namespace

// Bucket i covers (upper(i-1), upper(i)] with upper(i) = 1 µs · 2^(i/4).
// Computed from the bits (this runs twice per call): the power of two of nanos/1000 and the two
// bits after its leading one pick the quarter within it. Bucket bounds are then 1 µs · 2^(i/4)
// rounded to those quarters (1, 1.25, 1.5, 1.75 · 2^k) — within 2.5 % of the exact ones.
size_t LatencyHistogram::bucket_of(uint64_t nanos) {
  if (nanos <= kFirstBucketNanos) return 0;
  const uint64_t scaled = (nanos - 1) * 4 / kFirstBucketNanos;  // quarter-microseconds, rounded down
  const int width = std::bit_width(scaled);                       // ≥ 3 since nanos > 1000
  const uint64_t quarter = (scaled >> (width - 3)) & 3;           // the two bits after the leading one
  const size_t index = static_cast<size_t>(width - 3) * 4 + static_cast<size_t>(quarter) + 1;
  return std::min(index, kBuckets - 1);
}

double LatencyHistogram::bucket_upper(size_t index) {
  if (index == 0) return kFirstBucketNanos;
  const size_t k = (index - 1) / 4, q = (index - 1) % 4;  // upper bound (1 + (q+1)/4) · 2^k µs
  return kFirstBucketNanos * std::ldexp(1.0 + static_cast<double>(q + 1) / 4.0, static_cast<int>(k));
}

void LatencyHistogram::record(uint64_t nanos) {
  buckets_[bucket_of(nanos)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(nanos, std::memory_order_relaxed);
  uint64_t seen = max_.load(std::memory_order_relaxed);
  while (nanos > seen && !max_.compare_exchange_weak(seen, nanos, std::memory_order_relaxed)) {
  }
  seen = min_.load(std::memory_order_relaxed);
  while (nanos < seen && !min_.compare_exchange_weak(seen, nanos, std::memory_order_relaxed)) {
  }
}

uint64_t LatencyHistogram::min_nanos() const {
  const uint64_t m = min_.load(std::memory_order_relaxed);
  return m == UINT64_MAX ? 0 : m;
}

double LatencyHistogram::quantile_nanos(double q) const {
  uint64_t total = 0;
  std::array<uint64_t, kBuckets> snapshot;
  for (size_t i = 0; i < kBuckets; ++i) total += snapshot[i] = buckets_[i].load(std::memory_order_relaxed);
  if (total == 0) return 0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (snapshot[i] == 0) continue;
    if (static_cast<double>(seen + snapshot[i]) >= rank) {
      // Interpolate inside the bucket, then keep within what was actually observed.
      const double lower = i == 0 ? 0 : bucket_upper(i - 1), upper = bucket_upper(i);
      const double inside = (rank - static_cast<double>(seen)) / static_cast<double>(snapshot[i]);
      const double v = lower + (upper - lower) * std::clamp(inside, 0.0, 1.0);
      return std::clamp(v, static_cast<double>(min_nanos()), static_cast<double>(max_nanos()));
    }
    seen += snapshot[i];
  }
  return static_cast<double>(max_nanos());
}

std::vector<uint64_t> LatencyHistogram::cumulative(const std::vector<double>& bounds) const {
  std::vector<uint64_t> out(bounds.size(), 0);
  for (size_t i = 0; i < kBuckets; ++i) {
    const uint64_t n = buckets_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    const double upper_seconds = bucket_upper(i) / 1e9;
    // A bucket counts toward every bound at or above its upper edge (conservative by < 19%).
    for (size_t b = 0; b < bounds.size(); ++b)
      if (upper_seconds <= bounds[b] * (1 + 1e-9)) out[b] += n;
  }
  return out;
}

FunctionCounters& EngineMetrics::counters_for(std::string_view function_id) {
  {
    std::shared_lock lock(functions_mu_);
    if (auto it = functions_.find(function_id); it != functions_.end()) return *it->second;
  }
  std::unique_lock lock(functions_mu_);
  if (functions_.size() >= kMaxFunctions && !functions_.count(function_id)) function_id = "(other)";
  auto& slot = functions_[std::string(function_id)];
  if (!slot) slot = std::make_unique<FunctionCounters>();
  return *slot;
}

void EngineMetrics::record_call(FunctionCounters& c, bool ok, uint64_t duration_nanos) {
  (ok ? success_ : error_).fetch_add(1, std::memory_order_relaxed);
  latency_.record(duration_nanos);
  duration_total_.fetch_add(duration_nanos, std::memory_order_relaxed);
  (ok ? c.success : c.error).fetch_add(1, std::memory_order_relaxed);
  c.latency.record(duration_nanos);
}

void EngineMetrics::worker_connected() { spawns_.fetch_add(1, std::memory_order_relaxed); }
void EngineMetrics::worker_disconnected() { deaths_.fetch_add(1, std::memory_order_relaxed); }

void EngineMetrics::roll(uint64_t now, uint64_t retention_seconds) {
  std::lock_guard lock(slots_mu_);
  if (slot_start_ == 0) {
    slot_start_ = now - now % kSlotSeconds;
    last_totals_ = MetricsSlot{slot_start_, total(), success(), error(), deferred(), duration_total_.load(), 0};
    return;
  }
  if (now < slot_start_ + kSlotSeconds) return;
  const MetricsSlot current{slot_start_, total(), success(), error(), deferred(), duration_total_.load(), 0};
  MetricsSlot delta{slot_start_,
                    current.total - last_totals_.total,
                    current.success - last_totals_.success,
                    current.error - last_totals_.error,
                    current.deferred - last_totals_.deferred,
                    current.duration_nanos - last_totals_.duration_nanos,
                    static_cast<uint64_t>(std::max<int64_t>(0, active_workers()))};
  slots_.push_back(delta);
  last_totals_ = current;
  slot_start_ = now - now % kSlotSeconds;
  const size_t keep = std::max<uint64_t>(1, retention_seconds / kSlotSeconds);
  while (slots_.size() > keep) slots_.pop_front();
}

std::vector<MetricsSlot> EngineMetrics::slots() const {
  std::lock_guard lock(slots_mu_);
  return {slots_.begin(), slots_.end()};
}

MetricsSlot EngineMetrics::window(uint64_t now, uint64_t window_seconds) const {
  std::lock_guard lock(slots_mu_);
  // The open slot: what happened since the last roll.
  MetricsSlot sum{now > window_seconds ? now - window_seconds : 0,
                  total() - last_totals_.total,
                  success() - last_totals_.success,
                  error() - last_totals_.error,
                  deferred() - last_totals_.deferred,
                  duration_total_.load() - last_totals_.duration_nanos,
                  static_cast<uint64_t>(std::max<int64_t>(0, active_workers()))};
  for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) {
    if (it->unix_seconds + kSlotSeconds <= sum.unix_seconds) break;
    sum.total += it->total;
    sum.success += it->success;
    sum.error += it->error;
    sum.deferred += it->deferred;
    sum.duration_nanos += it->duration_nanos;
  }
  return sum;
}

}  // namespace iii::obs
