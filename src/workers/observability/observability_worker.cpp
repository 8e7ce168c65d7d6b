#include "workers/observability/observability_worker.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "core/console_log.h"
#include "net/http_client.h"
#include "workers/observability/alerts.h"
#include "workers/observability/metrics_http.h"
#include "workers/observability/otlp_exporter.h"
#include "workers/observability/prometheus_metrics.h"
#include "workers/observability/trace_archive.h"
#include "workers/observability/call_tracer.h"
#include "workers/observability/observability_config.h"
#include "workers/observability/observability_functions.h"
#include "workers/observability/observability_triggers.h"
#include "workers/observability/trace_context.h"

namespace iii {
namespace {

namespace json = boost::json;
using namespace obs;

constexpr const char* kLogTriggerFormat =
    R"({"type":"object","properties":{"level":{"type":"string","enum":["all","trace","debug","info","warn","error"]},)"
    R"("condition_function_id":{"type":"string"}}})";
constexpr const char* kTraceTriggerFormat =
    R"({"type":"object","properties":{"service_name":{"type":"string"},"status":{"type":"string","enum":["ok","error","unset"]},)"
    R"("condition_function_id":{"type":"string"}}})";

// The exporter sends records (made here for the engine's compact spans).
std::vector<SpanRecord> records_of(const std::vector<StoredSpan>& spans) {
  std::vector<SpanRecord> out;
  out.reserve(spans.size());
  for (const StoredSpan& s : spans) out.push_back(*s.record());
  return out;
}

class ObservabilityWorker final : public BuiltinWorker {
 public:
  ObservabilityWorker(boost::asio::io_context& io, Engine& engine, std::shared_ptr<const ObservabilityConfig> config,
                      std::shared_ptr<const BuiltinReadiness> readiness)
      : io_(io),
        engine_(engine),
        readiness_(std::move(readiness)),
        config_(std::move(config)),
        hub_(std::make_shared<TelemetryHub>(config_)),
        tracer_(std::make_shared<CallTracer>(hub_)),
        triggers_(std::make_shared<ObservabilityTriggers>(engine)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kObservabilityWorkerName)),
        ticker_(engine) {
    alerts_ = std::make_shared<Alerts>(hub_, config_->alerts,
                                       [this](const AlertRule& rule, const std::string& alert) { deliver_alert(rule, alert); });
    auto context = std::make_shared<ObservabilityFunctionContext>();
    context->hub = hub_;
    context->alerts = alerts_;
    context->engine = &engine_;
    // The archive and the exporter exist from start(): the functions read them through slots.
    context->storage_json = [archive = archive_slot_]() -> std::string {
      auto a = archive->get();
      if (!a) return {};
      const TraceArchiveStats s = a->stats();
      return "{\"written\":" + std::to_string(s.written) + ",\"dropped\":" + std::to_string(s.dropped) +
             ",\"disk_bytes\":" + std::to_string(s.disk_bytes) + ",\"segments\":" + std::to_string(s.segments) + "}";
    };
    context->archived_trace = [archive = archive_slot_](std::string_view trace_id) {
      auto a = archive->get();
      return a ? a->trace(trace_id) : std::vector<StoredSpan>{};
    };
    context->extra_components_json = [exporter = exporter_slot_]() -> std::string {
      auto e = exporter->get();
      if (!e) return {};
      const OtlpExporterStats s = e->stats();
      return "\"otlp_exporter\":{\"status\":\"" + std::string(s.failed_requests ? "degraded" : "healthy") +
             "\",\"exported_spans\":" + std::to_string(s.exported_spans) +
             ",\"exported_logs\":" + std::to_string(s.exported_logs) +
             ",\"failed_requests\":" + std::to_string(s.failed_requests) + "}";
    };
    add_observability_functions(*endpoint_, context);
    endpoint_->add_trigger_type(TriggerTypeSpec{"log", "Fires for every stored log entry of a level", kLogTriggerFormat, {}},
                                weakly_served(triggers_, kObservabilityWorkerName));
    endpoint_->add_trigger_type(
        TriggerTypeSpec{"trace", "Debounced tick with the trace ids that had span activity", kTraceTriggerFormat, {}},
        weakly_served(triggers_, kObservabilityWorkerName));
    std::weak_ptr<ObservabilityTriggers> weak_triggers = triggers_;
    hub_->add_log_sink([weak_triggers](const LogPtr& log) {
      if (auto t = weak_triggers.lock()) t->on_log(log);
    });
    hub_->add_span_sink([weak_triggers](const std::vector<StoredSpan>& spans) {
      if (auto t = weak_triggers.lock()) t->on_spans(spans);
    });
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    // The console's level and format are the engine's, set by this block even when it is disabled.
    console_log::set_level_from_config(config_->level.value_or("info"));
    console_log::set_json_format(config_->json_format);
    if (config_->enabled) {
      open_archive();
      start_exporter();
      engine_.set_invocation_observer(tracer_);
    }
    start_prometheus();
    // Worker life cycles for engine::metrics::list (spawns, deaths).
    std::weak_ptr<TelemetryHub> weak_hub = hub_;
    std::weak_ptr<CallTracer> weak_tracer = tracer_;
    worker_events_ = engine_.subscribe_worker_events([weak_hub, weak_tracer](std::string_view event, std::string_view) {
      auto hub = weak_hub.lock();
      auto tracer = weak_tracer.lock();
      if (!hub || !tracer || tracer->retired()) return;
      if (event == "worker_connected") hub->metrics().worker_connected();
      else if (event == "worker_disconnected") hub->metrics().worker_disconnected();
    });
    std::weak_ptr<TelemetryHub> hub = hub_;
    std::weak_ptr<ObservabilityTriggers> triggers = triggers_;
    std::weak_ptr<Alerts> alerts = alerts_;
    ticker_.start([hub, triggers, alerts, last_second = std::make_shared<Clock::time_point>(),
                   last_alerts = std::make_shared<Clock::time_point>(Clock::now())](Clock::time_point now) {
      auto h = hub.lock();
      if (!h) return;
      h->drain();
      if (auto t = triggers.lock()) t->tick(now);
      if (now - *last_second >= std::chrono::seconds(1)) {
        *last_second = now;
        h->expire(unix_nanos_now());
      }
      if (now - *last_alerts >= std::chrono::seconds(10)) {
        *last_alerts = now;
        if (auto a = alerts.lock(); a && !a->empty()) a->evaluate(unix_nanos_now() / 1'000'000);
        h->publish_engine_metrics(unix_nanos_now());
      }
    });
    spdlog::info("iii-observability: {} (traces: {}, sampling {}, logs: {})", config_->enabled ? "on" : "off",
                 config_->exporter == Exporter::kMemory ? "memory" : config_->exporter == Exporter::kOtlp ? "otlp" : "both",
                 config_->sampling_ratio, config_->logs_enabled ? "on" : "off");
  }

  void stop() override {
    engine_.unsubscribe_worker_events(worker_events_);
    ticker_.stop();
    tracer_->retire();
    if (engine_.invocation_observer() == tracer_.get()) engine_.set_invocation_observer(nullptr);
    hub_->drain();
    if (metrics_http_) metrics_http_->stop();
    if (auto e = exporter_slot_->get()) {
      e->flush();
      e->stop();
    }
    if (auto a = archive_slot_->get()) a->close();
  }

 private:
  // The durable span archive: spans of earlier runs are loaded back into memory, and every span
  // from now on is appended. An archive that cannot open is reported; the rest keeps running.
  void open_archive() {
    if (!config_->trace_storage_enabled) return;
    try {
      TraceArchiveOptions options;
      options.directory = config_->trace_directory;
      options.max_disk_bytes = config_->max_disk_bytes;
      options.retention_seconds = config_->trace_retention_seconds;
      std::shared_ptr<TraceArchive> archive = TraceArchive::open(options);
      if (config_->keeps_traces()) hub_->spans().add_stored(archive->recent(config_->memory_max_spans));
      archive_slot_->set(archive);
      hub_->add_span_sink([weak = std::weak_ptr<TraceArchive>(archive)](const std::vector<StoredSpan>& spans) {
        if (auto a = weak.lock()) a->append_stored(spans);
      });
    } catch (const std::exception& e) {
      spdlog::error("iii-observability: trace storage disabled: {}", e.what());
    }
  }

  void start_exporter() {
    const bool traces = config_->exports_traces(), logs = config_->logs_exporter != Exporter::kMemory,
               metrics = config_->metrics_exporter == Exporter::kOtlp;
    if (!traces && !logs && !metrics) return;
    OtlpExporterOptions options;
    options.endpoint = config_->endpoint;
    options.service_name = config_->service_name;
    options.service_version = config_->service_version;
    options.service_namespace = config_->service_namespace;
    options.max_batch = std::max<size_t>(1, config_->logs_batch_size);
    options.flush_interval = std::chrono::milliseconds(config_->logs_flush_interval_ms);
    if (const char* headers = std::getenv("OTEL_EXPORTER_OTLP_HEADERS")) options.headers = parse_otlp_headers(headers);
    std::shared_ptr<OtlpExporter> exporter;
    try {
      exporter = std::make_shared<OtlpExporter>(io_, options);
    } catch (const std::exception& e) {
      spdlog::error("iii-observability: OTLP export disabled: {}", e.what());
      return;
    }
    exporter->start();
    exporter_slot_->set(exporter);
    std::weak_ptr<OtlpExporter> weak = exporter;
    if (traces)
      hub_->add_span_sink([weak](const std::vector<StoredSpan>& spans) {
        if (auto e = weak.lock()) e->add_spans(records_of(spans));
      });
    if (logs)
      hub_->add_log_sink([weak](const LogPtr& log) {
        if (auto e = weak.lock()) e->add_logs({*log});
      });
    if (metrics)
      hub_->add_metrics_sink([weak](const std::vector<MetricPoint>& points) {
        if (auto e = weak.lock()) e->add_metrics(points);
      });
    spdlog::info("iii-observability: exporting{}{}{} to {} (OTLP/HTTP JSON)", traces ? " traces" : "", logs ? " logs" : "",
                 metrics ? " metrics" : "", config_->endpoint);
  }

  // GET /metrics, /healthz, /readyz. A port that cannot be bound is reported, not fatal: the
  // engine's telemetry still works without the endpoint.
  void start_prometheus() {
    if (!config_->prometheus_host) return;
    std::weak_ptr<TelemetryHub> hub = hub_;
    std::weak_ptr<SharedSlot<OtlpExporter>> exporter = exporter_slot_;
    std::weak_ptr<SharedSlot<TraceArchive>> archive = archive_slot_;
    metrics_http_ = std::make_unique<MetricsHttpServer>(
        io_,
        [hub, exporter, archive, &engine = engine_]() -> std::string {
          auto h = hub.lock();
          if (!h) return {};
          DroppedTelemetry dropped;
          if (auto slot = archive.lock())
            if (auto a = slot->get()) dropped.archive_spans = a->stats().dropped;
          if (auto slot = exporter.lock())
            if (auto e = slot->get()) {
              const OtlpExporterStats s = e->stats();
              dropped.export_spans = s.dropped_spans, dropped.export_logs = s.dropped_logs,
              dropped.export_metrics = s.dropped_metrics;
            }
          return render_prometheus(*h, engine, dropped);
        },
        [readiness = readiness_]() -> std::pair<bool, std::string> {
          if (!readiness) return {true, R"({"ready":true})"};
          return readiness->report();
        });
    try {
      metrics_http_->listen(*config_->prometheus_host, config_->prometheus_port);
      spdlog::info("iii-observability: Prometheus metrics on http://{}:{}/metrics (also /healthz, /readyz)",
                   *config_->prometheus_host, metrics_http_->port());
    } catch (const std::exception& e) {
      spdlog::error("iii-observability: cannot serve /metrics on {}:{}: {}", *config_->prometheus_host,
                    config_->prometheus_port, e.what());
      metrics_http_.reset();
    }
  }

  void deliver_alert(const AlertRule& rule, const std::string& alert) {
    if (rule.action == "function") {
      engine_.invoke(rule.action_target, alert, {}, [name = rule.name, target = rule.action_target](Outcome o) {
        if (!o.ok()) spdlog::warn("alert {}: function {} failed: {}: {}", name, target, o.error->code, o.error->message);
      });
      return;
    }
    std::optional<OtlpEndpoint> url = parse_otlp_endpoint(rule.action_target);
    if (!url) return spdlog::warn("alert {}: webhook URL {} is not valid", rule.name, rule.action_target);
    if (!webhook_client_) webhook_client_ = std::make_shared<HttpClient>(io_);
    HttpClientRequest request;
    request.method = "POST";
    request.https = url->https;
    request.host = url->host;
    request.port = url->port;
    request.target = url->base_path.empty() ? "/" : url->base_path;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = alert;
    request.timeout = std::chrono::seconds(10);
    webhook_client_->request(std::move(request), [name = rule.name](HttpClientResult r) {
      if (auto* e = std::get_if<HttpClientError>(&r)) spdlog::warn("alert {}: webhook failed: {}", name, e->message);
      else if (auto& res = std::get<HttpClientResponse>(r); res.status >= 300)
        spdlog::warn("alert {}: webhook answered {}", name, res.status);
    });
  }

  boost::asio::io_context& io_;
  Engine& engine_;
  const std::shared_ptr<const BuiltinReadiness> readiness_;
  const std::shared_ptr<SharedSlot<TraceArchive>> archive_slot_ = std::make_shared<SharedSlot<TraceArchive>>();
  const std::shared_ptr<SharedSlot<OtlpExporter>> exporter_slot_ = std::make_shared<SharedSlot<OtlpExporter>>();
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::shared_ptr<HttpClient> webhook_client_;
  const std::shared_ptr<const ObservabilityConfig> config_;
  const std::shared_ptr<TelemetryHub> hub_;
  const std::shared_ptr<CallTracer> tracer_;
  const std::shared_ptr<ObservabilityTriggers> triggers_;
  std::shared_ptr<Alerts> alerts_;
  const std::shared_ptr<InProcessWorker> endpoint_;
  WorkerTicker ticker_;
  ListenerId worker_events_ = 0;
};

}  // namespace

BuiltinDescriptor observability_builtin(boost::asio::io_context& io) {
  return {kObservabilityWorkerName, {"observability"},
          [&io](BuiltinContext& context, const json::value& config) -> std::unique_ptr<BuiltinWorker> {
            auto parsed = std::make_shared<const ObservabilityConfig>(parse_observability_config(config, context.working_dir));
            return std::make_unique<ObservabilityWorker>(io, context.engine, std::move(parsed), context.readiness);
          }};
}

}  // namespace iii
