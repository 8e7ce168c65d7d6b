#include "workers/observability/alerts.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "wire/json_writer.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

bool holds(AlertOperator op, double v, double t) {
  switch (op) {
    case AlertOperator::kGreater: return v > t;
    case AlertOperator::kGreaterOrEqual: return v >= t;
    case AlertOperator::kLess: return v < t;
    case AlertOperator::kLessOrEqual: return v <= t;
    case AlertOperator::kEqual: return v == t;
    case AlertOperator::kNotEqual: return v != t;
  }
  return false;
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

}  // namespace

std::string_view operator_name(AlertOperator op) {
  // In the order of the enum.
  static constexpr std::string_view kNames[] = {"greaterthan", "greaterthanorequal", "lessthan",
                                                "lessthanorequal", "equal", "notequal"};
  return kNames[static_cast<size_t>(op)];
}

// Metric names (docs/observability.md "Alerts"): counters are counted over the window, gauges and
// latency percentiles are their current value.
std::optional<double> Alerts::metric_value(TelemetryHub& hub, std::string_view m, uint64_t window, uint64_t now) {
  EngineMetrics& metrics = hub.metrics();
  const MetricsSlot w = metrics.window(now, window);
  if (m == "iii.invocations.total") return static_cast<double>(w.total);
  if (m == "iii.invocations.success") return static_cast<double>(w.success);
  if (m == "iii.invocations.error") return static_cast<double>(w.error);
  if (m == "iii.invocations.deferred") return static_cast<double>(w.deferred);
  if (m == "iii.invocations.error_rate") return w.total ? static_cast<double>(w.error) / static_cast<double>(w.total) : 0.0;
  if (m == "iii.invocations.avg_duration_ms")
    return w.total ? static_cast<double>(w.duration_nanos) / static_cast<double>(w.total) / 1e6 : 0.0;
  if (m == "iii.invocations.p50_duration_ms") return metrics.latency().quantile_nanos(0.5) / 1e6;
  if (m == "iii.invocations.p95_duration_ms") return metrics.latency().quantile_nanos(0.95) / 1e6;
  if (m == "iii.invocations.p99_duration_ms") return metrics.latency().quantile_nanos(0.99) / 1e6;
  if (m == "iii.workers.active") return static_cast<double>(std::max<int64_t>(0, metrics.active_workers()));
  if (m == "iii.workers.spawns") return static_cast<double>(metrics.spawns());
  if (m == "iii.workers.deaths") return static_cast<double>(metrics.deaths());
  if (m == "iii.spans.stored") return static_cast<double>(hub.spans().stats().spans);
  if (m == "iii.logs.stored") return static_cast<double>(hub.logs().stats().size);
  return std::nullopt;
}

std::vector<std::string> Alerts::evaluate(uint64_t now_ms) {
  struct Fired {
    AlertRule rule;
    std::string json;
  };
  std::vector<Fired> fired;
  {
    std::lock_guard lock(mu_);
    for (AlertState& s : states_) {
      if (!s.rule.enabled) continue;
      s.last_evaluated_ms = now_ms;
      s.last_value = metric_value(*hub_, s.rule.metric, s.rule.window_seconds, now_ms / 1000);
      if (!s.last_value) {
        s.firing = false;
        continue;
      }
      s.firing = holds(s.rule.op, *s.last_value, s.rule.threshold);
      if (!s.firing) continue;
      if (s.fire_count > 0 && now_ms < s.last_fired_ms + s.rule.cooldown_seconds * 1000) continue;
      s.last_fired_ms = now_ms;
      ++s.fire_count;
      fired.push_back(Fired{s.rule, alert_state_json(s)});
    }
  }
  std::vector<std::string> names;
  for (Fired& f : fired) {
    names.push_back(f.rule.name);
    const std::string message = "alert " + f.rule.name + ": " + f.rule.metric + " " +
                                std::string(operator_name(f.rule.op)) + " " + number(f.rule.threshold);
    spdlog::warn("{}", message);
    LogRecord log;
    log.time_unix_nano = log.observed_time_unix_nano = unix_nanos_now();
    log.severity_number = 13;
    log.severity_text = "WARN";
    append_json_string(log.body, message);
    log.attributes.push_back({"alert", f.json});
    log.service_name = hub_->config().service_name;
    hub_->submit_log(std::move(log));
    if (f.rule.action != "log" && deliver_) deliver_(f.rule, f.json);
  }
  return names;
}

std::vector<AlertState> Alerts::states() const {
  std::lock_guard lock(mu_);
  return states_;
}

std::string alert_state_json(const AlertState& s) {
  FrameWriter w(256);
  w.string("name", s.rule.name)
      .string("metric", s.rule.metric)
      .raw("threshold", number(s.rule.threshold))
      .string("operator", operator_name(s.rule.op))
      .number("window_seconds", static_cast<long long>(s.rule.window_seconds))
      .number("cooldown_seconds", static_cast<long long>(s.rule.cooldown_seconds))
      .boolean("enabled", s.rule.enabled);
  FrameWriter action(64);
  action.string("type", s.rule.action);
  if (s.rule.action == "webhook") action.string("url", s.rule.action_target);
  if (s.rule.action == "function") action.string("path", s.rule.action_target);
  w.raw("action", action.finish())
      .boolean("firing", s.firing)
      .raw("last_value", s.last_value ? number(*s.last_value) : "null")
      .number("last_evaluated_ms", static_cast<long long>(s.last_evaluated_ms))
      .number("last_fired_ms", static_cast<long long>(s.last_fired_ms))
      .number("fire_count", static_cast<long long>(s.fire_count));
  return w.finish();
}

}  // namespace iii::obs
