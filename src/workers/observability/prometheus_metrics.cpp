#include "workers/observability/prometheus_metrics.h"

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/json_text.h"
#include "workers/observability/prometheus_text.h"

namespace iii::obs {
namespace {

namespace json = boost::json;
using Labels = PrometheusText::Labels;

const std::vector<double> kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10, 30};

// Calls an in-process function (the queue worker's stats, which the queue store answers from
// its writer thread) and waits for its outcome until `deadline`: nothing when it is absent,
// fails, or has not answered by then (the page then goes without those gauges).
std::optional<json::value> call_until(Engine& engine, std::string_view function_id, std::string_view data,
                                      std::chrono::steady_clock::time_point deadline) {
  struct Answer {
    std::mutex mutex;
    std::condition_variable done_signal;
    bool done = false;
    std::optional<json::value> value;
  };
  auto answer = std::make_shared<Answer>();
  engine.invoke(function_id, data, {}, [answer](Outcome o) {
    std::optional<json::value> value;
    if (o.ok()) value = json_text::parse(o.result);
    std::lock_guard lock(answer->mutex);
    answer->value = std::move(value);
    answer->done = true;
    answer->done_signal.notify_all();
  });
  std::unique_lock lock(answer->mutex);
  answer->done_signal.wait_until(lock, deadline, [&] { return answer->done; });
  return answer->value;
}

// The whole page waits at most this long for the queue's figures.
constexpr std::chrono::seconds kQueueStatsDeadline{2};

void queue_gauges(PrometheusText& text, Engine& engine) {
  if (!engine.registry().find_function("engine::queue::list_topics")) return;
  const auto deadline = std::chrono::steady_clock::now() + kQueueStatsDeadline;
  std::optional<json::value> topics = call_until(engine, "engine::queue::list_topics", "{}", deadline);
  if (!topics || !topics->is_array()) return;
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> rows;
  for (const json::value& t : topics->get_array()) {
    if (!t.is_object() || !t.get_object().contains("name") || !t.get_object().at("name").is_string()) continue;
    const std::string name(t.get_object().at("name").get_string());
    std::string request = "{\"topic\":" + json_text::serialize(json::value(name)) + "}";
    std::optional<json::value> stats = call_until(engine, "engine::queue::topic_stats", request, deadline);
    if (!stats || !stats->is_object()) continue;
    auto number = [&](const char* k) -> uint64_t {
      const json::value* v = stats->get_object().if_contains(k);
      return v && v->is_int64() ? static_cast<uint64_t>(std::max<int64_t>(0, v->get_int64())) : 0;
    };
    rows.emplace_back(name, number("depth"), number("dlq_depth"));
  }
  text.gauge("iii_queue_depth", "Messages waiting or in flight, by queue or topic");
  for (const auto& [name, depth, dlq] : rows) text.sample("", {{"queue", name}}, static_cast<double>(depth));
  text.gauge("iii_queue_dlq_size", "Dead-lettered messages, by queue or topic");
  for (const auto& [name, depth, dlq] : rows) text.sample("", {{"queue", name}}, static_cast<double>(dlq));
}

}  // namespace

std::string render_prometheus(TelemetryHub& hub, Engine& engine, const DroppedTelemetry& dropped) {
  PrometheusText text;
  EngineMetrics& m = hub.metrics();
  text.counter("iii_invocations_total", "Routed invocations, by function and status");
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> state_ops, stream_ops;
  m.for_each_function([&](const std::string& id, const FunctionCounters& c) {
    const uint64_t ok = c.success.load(std::memory_order_relaxed), err = c.error.load(std::memory_order_relaxed);
    text.sample("", {{"function", id}, {"status", "success"}}, static_cast<double>(ok));
    text.sample("", {{"function", id}, {"status", "error"}}, static_cast<double>(err));
    if (id.starts_with("state::")) state_ops.emplace_back(id.substr(7), ok, err);
    if (id.starts_with("stream::")) stream_ops.emplace_back(id.substr(8), ok, err);
  });
  text.histogram("iii_invocation_duration_seconds", "Invocation latency as the engine measures it, by function");
  m.for_each_function([&](const std::string& id, const FunctionCounters& c) {
    text.histogram_samples("", {{"function", id}}, kLatencyBounds, c.latency.cumulative(kLatencyBounds),
                           static_cast<double>(c.latency.sum_nanos()) / 1e9, c.latency.count());
  });
  text.counter("iii_invocations_deferred_total", "Calls handed to the queue (Enqueue actions)");
  text.sample("", {}, static_cast<double>(m.deferred()));
  uint64_t connected = 0;
  for (const WorkerEntry& w : engine.registry().workers()) connected += w.endpoint->in_process() ? 0 : 1;
  text.gauge("iii_workers_connected", "Worker connections").sample("", {}, static_cast<double>(connected));
  text.counter("iii_worker_connections_total", "Worker connections opened since start")
      .sample("", {}, static_cast<double>(m.spawns()));
  text.counter("iii_worker_disconnections_total", "Worker connections closed since start")
      .sample("", {}, static_cast<double>(m.deaths()));
  text.counter("iii_state_operations_total", "state::* calls, by operation and status");
  for (const auto& [op, ok, err] : state_ops) {
    text.sample("", {{"op", op}, {"status", "success"}}, static_cast<double>(ok));
    text.sample("", {{"op", op}, {"status", "error"}}, static_cast<double>(err));
  }
  text.counter("iii_stream_operations_total", "stream::* calls, by operation and status");
  for (const auto& [op, ok, err] : stream_ops) {
    text.sample("", {{"op", op}, {"status", "success"}}, static_cast<double>(ok));
    text.sample("", {{"op", op}, {"status", "error"}}, static_cast<double>(err));
  }
  queue_gauges(text, engine);
  const SpanStoreStats spans = hub.spans().stats();
  const TelemetryCounters c = hub.counters();
  text.gauge("iii_spans_stored", "Spans kept in memory").sample("", {}, static_cast<double>(spans.spans));
  text.gauge("iii_logs_stored", "Log entries kept in memory").sample("", {}, static_cast<double>(hub.logs().stats().size));
  text.counter("iii_telemetry_dropped_total", "Telemetry dropped or evicted, by kind and reason");
  text.sample("", {{"kind", "spans"}, {"reason", "pending_full"}}, static_cast<double>(c.spans_dropped));
  text.sample("", {{"kind", "spans"}, {"reason", "memory_evicted"}}, static_cast<double>(spans.evicted));
  text.sample("", {{"kind", "spans"}, {"reason", "archive_full"}}, static_cast<double>(dropped.archive_spans));
  text.sample("", {{"kind", "spans"}, {"reason", "export_failed"}}, static_cast<double>(dropped.export_spans));
  text.sample("", {{"kind", "logs"}, {"reason", "memory_evicted"}}, static_cast<double>(hub.logs().stats().evicted));
  text.sample("", {{"kind", "logs"}, {"reason", "sampled_out"}}, static_cast<double>(c.logs_sampled_out));
  text.sample("", {{"kind", "logs"}, {"reason", "export_failed"}}, static_cast<double>(dropped.export_logs));
  text.sample("", {{"kind", "metrics"}, {"reason", "memory_evicted"}}, static_cast<double>(c.metrics_evicted));
  text.sample("", {{"kind", "metrics"}, {"reason", "export_failed"}}, static_cast<double>(dropped.export_metrics));
  text.sample("", {{"kind", "frames"}, {"reason", "invalid"}}, static_cast<double>(c.frames_rejected));
  text.sample("", {{"kind", "frames"}, {"reason", "ingest_full"}}, static_cast<double>(c.frames_dropped));
  return text.finish();
}

}  // namespace iii::obs
