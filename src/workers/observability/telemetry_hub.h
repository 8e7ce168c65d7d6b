// Where every span, log entry and SDK metric point goes (docs/observability.md): the bounded
// memory stores the query functions read, the engine counters, and the sinks that want them too
// (the trace archive on disk, the OTLP exporter, the `log` and `trace` triggers).
//
// Spans arrive on the call path (one per sampled invocation), so submit_engine_span() only appends to a
// bounded pending batch under a short lock; drain() — run by the worker's timer every ~100 ms and
// before every query — moves the batch into the store and hands it to the span sinks. Logs are
// fewer and go through at once, so a `log` trigger fires without delay.
#pragma once
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "workers/observability/engine_metrics.h"
#include "workers/observability/log_store.h"
#include "workers/observability/observability_config.h"
#include "workers/observability/sampler.h"
#include "workers/observability/span_store.h"

namespace iii::obs {

using SpanSink = std::function<void(const std::vector<StoredSpan>&)>;
using LogSink = std::function<void(const LogPtr&)>;
using MetricsSink = std::function<void(const std::vector<MetricPoint>&)>;

struct TelemetryCounters {
  uint64_t spans_dropped = 0;    // pending batch full
  uint64_t logs_sampled_out = 0; // logs_sampling_ratio
  uint64_t frames_ingested = 0, frames_rejected = 0;
  uint64_t frames_dropped = 0;  // the ingest queue was full (telemetry_ingest.h)
  uint64_t metrics_evicted = 0;
};

class TelemetryHub {
 public:
  static constexpr size_t kMaxPendingSpans = 200000;

  explicit TelemetryHub(std::shared_ptr<const ObservabilityConfig> config);

  const ObservabilityConfig& config() const { return *config_; }
  // Unique per hub ever made in this process (caches key on it, not on the address).
  uint64_t id() const { return id_; }
  EngineMetrics& metrics() { return metrics_; }
  Sampler& sampler() { return sampler_; }
  SpanStore& spans() { return spans_; }
  LogStore& logs() { return logs_; }

  // The engine's span of one call (the hot path: a move under a short lock).
  void submit_engine_span(EngineSpan span);
  // Spans ingested from workers.
  void submit_spans(std::vector<SpanRecord> spans);
  // Stores a log entry (subject to logs_enabled and logs_sampling_ratio), prints it when
  // logs_console_output is on, and hands it to the log sinks.
  void submit_log(LogRecord log);
  void submit_metrics(std::vector<MetricPoint> points);
  // Moves pending spans into the store and the sinks; cheap when there are none.
  void drain();
  // Retention of logs and SDK metrics, and the counters' history (called by the timer).
  void expire(uint64_t now_unix_nanos);

  void add_span_sink(SpanSink sink);
  void add_log_sink(LogSink sink);
  // SDK metric points as they arrive, and the engine's own counters on publish_engine_metrics().
  void add_metrics_sink(MetricsSink sink);
  // Hands the engine's counters (iii.invocations.*, iii.workers.*, latency) to the metrics sinks as
  // cumulative sums and gauges (called every 10 s by the worker's timer).
  void publish_engine_metrics(uint64_t now_unix_nanos);

  // SDK metric points, newest first, optionally one metric name and a time range (ms, 0 = open).
  std::vector<MetricPoint> sdk_metrics(std::string_view name, uint64_t start_ms, uint64_t end_ms) const;
  TelemetryCounters counters() const;
  void count_frame(bool ok) { (ok ? frames_ingested_ : frames_rejected_).fetch_add(1, std::memory_order_relaxed); }
  void count_frame_dropped() { frames_dropped_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void print(const LogRecord& log) const;

  const std::shared_ptr<const ObservabilityConfig> config_;
  const uint64_t id_;
  EngineMetrics metrics_;
  Sampler sampler_;
  SpanStore spans_;
  LogStore logs_;

  std::mutex pending_mu_;
  std::vector<StoredSpan> pending_;
  std::atomic<uint64_t> spans_dropped_{0}, logs_sampled_out_{0}, frames_ingested_{0}, frames_rejected_{0},
      frames_dropped_{0};

  mutable std::mutex sinks_mu_;
  std::vector<std::shared_ptr<const SpanSink>> span_sinks_;
  std::vector<std::shared_ptr<const LogSink>> log_sinks_;
  std::vector<std::shared_ptr<const MetricsSink>> metrics_sinks_;

  mutable std::mutex metrics_mu_;
  std::deque<MetricPoint> sdk_metrics_;
  uint64_t metrics_evicted_ = 0;
  std::mutex drain_mu_;  // one drain at a time keeps sinks in arrival order
  std::vector<StoredSpan> draining_;  // drain()'s batch; swapped with pending_ to keep both allocated
};

}  // namespace iii::obs
