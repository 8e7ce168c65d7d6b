#include "workers/observability/telemetry_hub.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <random>

#include "core/json_text.h"

namespace iii::obs {
namespace {

spdlog::level::level_enum spd_level(int severity) {
  if (severity >= 17) return spdlog::level::err;
  if (severity >= 13) return spdlog::level::warn;
  if (severity >= 9) return spdlog::level::info;
  if (severity >= 5) return spdlog::level::debug;
  return spdlog::level::trace;
}

// The body as a person reads it: a JSON string unquoted, anything else as JSON.
std::string body_text(const std::string& raw) {
  if (raw.size() >= 2 && raw.front() == '"') {
    std::optional<boost::json::value> v = json_text::parse(raw);
    if (v && v->is_string()) return std::string(v->get_string());
  }
  return raw;
}

bool keep_by_ratio(double ratio) {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  thread_local std::minstd_rand g{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(g) < ratio;
}

}  // namespace

TelemetryHub::TelemetryHub(std::shared_ptr<const ObservabilityConfig> config)
    : config_(std::move(config)),
      id_([] {
        static std::atomic<uint64_t> last{0};
        return ++last;
      }()),
      sampler_(*config_),
      spans_(config_->memory_max_spans, config_->memory_max_bytes),
      logs_(config_->logs_max_count, config_->logs_retention_seconds) {}

void TelemetryHub::submit_engine_span(EngineSpan span) {
  std::lock_guard lock(pending_mu_);
  if (pending_.size() >= kMaxPendingSpans) {
    spans_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  pending_.emplace_back(std::move(span));
}

void TelemetryHub::submit_spans(std::vector<SpanRecord> spans) {
  std::lock_guard lock(pending_mu_);
  for (SpanRecord& s : spans) {
    if (pending_.size() >= kMaxPendingSpans) {
      spans_dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    pending_.emplace_back(std::make_shared<const SpanRecord>(std::move(s)));
  }
}

void TelemetryHub::drain() {
  std::lock_guard drain_lock(drain_mu_);
  std::vector<StoredSpan>& ready = draining_;
  {
    std::lock_guard lock(pending_mu_);
    if (pending_.empty()) return;
    ready.swap(pending_);  // pending_ gets the last batch's storage back: no regrowth per tick
  }
  const size_t batch_size = ready.size();
  if (config_->keeps_traces()) spans_.add_stored(ready);
  std::vector<std::shared_ptr<const SpanSink>> sinks;
  {
    std::lock_guard lock(sinks_mu_);
    sinks = span_sinks_;
  }
  for (const auto& sink : sinks) (*sink)(ready);
  ready.clear();
  // After a burst, give back what the usual batch does not need.
  if (ready.capacity() > 16384 && ready.capacity() > 4 * batch_size) ready.shrink_to_fit();
}

void TelemetryHub::submit_log(LogRecord log) {
  if (!config_->logs_enabled) return;
  if (!keep_by_ratio(config_->logs_sampling_ratio)) {
    logs_sampled_out_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (log.severity_text.empty()) log.severity_text = std::string(severity_text_for(log.severity_number));
  auto ptr = std::make_shared<const LogRecord>(std::move(log));
  if (config_->logs_console_output) print(*ptr);
  if (config_->logs_exporter != Exporter::kOtlp) logs_.add(ptr);
  std::vector<std::shared_ptr<const LogSink>> sinks;
  {
    std::lock_guard lock(sinks_mu_);
    sinks = log_sinks_;
  }
  for (const auto& sink : sinks) (*sink)(ptr);
}

void TelemetryHub::print(const LogRecord& log) const {
  const auto level = spd_level(log.severity_number);
  if (!spdlog::should_log(level)) return;
  const std::string& who = log.service_name.empty() ? config_->service_name : log.service_name;
  std::string data;
  for (const Attribute& a : log.attributes)
    if (a.key == "log.data" || a.key == "data") data = " " + a.value;
  spdlog::log(level, "[{}] {}{}", who, body_text(log.body), data);
}

void TelemetryHub::submit_metrics(std::vector<MetricPoint> points) {
  if (!config_->metrics_enabled) return;
  std::vector<std::shared_ptr<const MetricsSink>> sinks;
  {
    std::lock_guard lock(sinks_mu_);
    sinks = metrics_sinks_;
  }
  for (const auto& sink : sinks) (*sink)(points);
  std::lock_guard lock(metrics_mu_);
  for (MetricPoint& p : points) sdk_metrics_.push_back(std::move(p));
  while (sdk_metrics_.size() > config_->metrics_max_count) {
    sdk_metrics_.pop_front();
    ++metrics_evicted_;
  }
}

void TelemetryHub::expire(uint64_t now) {
  logs_.expire(now);
  metrics_.roll(now / 1'000'000'000ull, config_->metrics_retention_seconds);
  std::lock_guard lock(metrics_mu_);
  const uint64_t horizon = config_->metrics_retention_seconds * 1'000'000'000ull;
  while (!sdk_metrics_.empty() && now > horizon && sdk_metrics_.front().time_unix_nano < now - horizon) {
    sdk_metrics_.pop_front();
    ++metrics_evicted_;
  }
}

void TelemetryHub::add_span_sink(SpanSink sink) {
  std::lock_guard lock(sinks_mu_);
  span_sinks_.push_back(std::make_shared<const SpanSink>(std::move(sink)));
}

void TelemetryHub::add_log_sink(LogSink sink) {
  std::lock_guard lock(sinks_mu_);
  log_sinks_.push_back(std::make_shared<const LogSink>(std::move(sink)));
}

void TelemetryHub::add_metrics_sink(MetricsSink sink) {
  std::lock_guard lock(sinks_mu_);
  metrics_sinks_.push_back(std::make_shared<const MetricsSink>(std::move(sink)));
}

void TelemetryHub::publish_engine_metrics(uint64_t now) {
  std::vector<std::shared_ptr<const MetricsSink>> sinks;
  {
    std::lock_guard lock(sinks_mu_);
    sinks = metrics_sinks_;
  }
  if (sinks.empty() || !config_->metrics_enabled) return;
  std::vector<MetricPoint> points;
  auto point = [&](const char* name, const char* type, const char* unit, double value) {
    MetricPoint p;
    p.name = name, p.type = type, p.unit = unit, p.value = value, p.time_unix_nano = now;
    p.service_name = config_->service_name;
    points.push_back(std::move(p));
  };
  point("iii.invocations.total", "sum", "1", static_cast<double>(metrics_.total()));
  point("iii.invocations.success", "sum", "1", static_cast<double>(metrics_.success()));
  point("iii.invocations.error", "sum", "1", static_cast<double>(metrics_.error()));
  point("iii.invocations.deferred", "sum", "1", static_cast<double>(metrics_.deferred()));
  point("iii.workers.spawns", "sum", "1", static_cast<double>(metrics_.spawns()));
  point("iii.workers.deaths", "sum", "1", static_cast<double>(metrics_.deaths()));
  point("iii.invocations.p50_duration_ms", "gauge", "ms", metrics_.latency().quantile_nanos(0.5) / 1e6);
  point("iii.invocations.p99_duration_ms", "gauge", "ms", metrics_.latency().quantile_nanos(0.99) / 1e6);
  for (const auto& sink : sinks) (*sink)(points);
}

std::vector<MetricPoint> TelemetryHub::sdk_metrics(std::string_view name, uint64_t start_ms, uint64_t end_ms) const {
  std::vector<MetricPoint> out;
  std::lock_guard lock(metrics_mu_);
  for (auto it = sdk_metrics_.rbegin(); it != sdk_metrics_.rend() && out.size() < 1000; ++it) {
    const uint64_t ms = it->time_unix_nano / 1'000'000;
    if (!name.empty() && it->name != name) continue;
    if (start_ms && ms < start_ms) continue;
    if (end_ms && ms > end_ms) continue;
    out.push_back(*it);
  }
  return out;
}

TelemetryCounters TelemetryHub::counters() const {
  TelemetryCounters c;
  c.spans_dropped = spans_dropped_.load(std::memory_order_relaxed);
  c.logs_sampled_out = logs_sampled_out_.load(std::memory_order_relaxed);
  c.frames_ingested = frames_ingested_.load(std::memory_order_relaxed);
  c.frames_rejected = frames_rejected_.load(std::memory_order_relaxed);
  c.frames_dropped = frames_dropped_.load(std::memory_order_relaxed);
  std::lock_guard lock(metrics_mu_);
  c.metrics_evicted = metrics_evicted_;
  return c;
}

}  // namespace iii::obs
