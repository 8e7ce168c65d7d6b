#include "workers/observability/observability_functions.h"

#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <stdexcept>

#include "core/json_text.h"
#include "engine/engine.h"
#include "wire/json_writer.h"
#include "workers/observability/query_input.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

namespace json = boost::json;
using Context = std::shared_ptr<const ObservabilityFunctionContext>;

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The call's input as an object ({} when absent or null); throws std::invalid_argument otherwise.
json::object input_of(const InProcessCall& call) {
  std::string error;
  std::optional<json::value> v = json_text::parse(call.data, &error);
  if (!v) throw std::invalid_argument("not valid JSON: " + error);
  if (v->is_null()) return {};
  if (!v->is_object()) throw std::invalid_argument(std::string("expected an object, got ") + json_text::type_name(*v));
  return std::move(v->get_object());
}

std::string string_field(const json::object& in, const char* key) { return QueryInput(in).string(key); }

// A JSON array of records (shared pointers to spans or log entries).
template <class Records>
std::string json_array(const Records& records) {
  std::string out = "[";
  for (const auto& r : records) {
    if (out.size() > 1) out += ',';
    out += to_json(*r);
  }
  return out + "]";
}

using Body = std::function<std::string(const Context&, const InProcessCall&, const json::object&)>;

void add(InProcessWorker& worker, const Context& context, const char* id, const char* description, Body body) {
  worker.add_function(FunctionSpec{id, description, {}, {}, {}},
                      SyncFunctionHandler([context, body = std::move(body), id](const InProcessCall& call) {
                        try {
                          return Outcome::success(body(context, call, input_of(call)));
                        } catch (const std::invalid_argument& e) {
                          return Outcome::failure(codes::kDeserializationError,
                                                  std::string("Failed to deserialize input for ") + id + ": " + e.what());
                        }
                      }));
}

// --- engine::log::* ---

std::string write_log(const Context& c, const InProcessCall& call, const json::object& in, int severity) {
  const json::value* message = in.if_contains("message");
  if (!message || !message->is_string()) throw std::invalid_argument("`message` is required (a string)");
  LogRecord log;
  log.time_unix_nano = log.observed_time_unix_nano = unix_nanos_now();
  log.severity_number = severity;
  log.severity_text = std::string(severity_text_for(severity));
  log.body = json_text::serialize(*message);
  if (const json::value* data = in.if_contains("data"); data && !data->is_null())
    log.attributes.push_back({"data", json_text::serialize(*data)});
  log.trace_id = string_field(in, "trace_id");
  log.span_id = string_field(in, "span_id");
  // Without explicit ids the entry belongs to the call's trace (the engine's span of this call).
  if (log.trace_id.empty() && !call.traceparent.empty())
    if (auto tp = parse_traceparent(call.traceparent)) {
      log.trace_id = tp->trace_id;
      log.span_id = tp->span_id;
    }
  log.service_name = string_field(in, "service_name");
  if (log.service_name.empty()) log.service_name = c->hub->config().service_name;
  if (!call.caller_worker_id.empty()) log.attributes.push_back({"iii.worker.id", json_text::serialize(json::value(call.caller_worker_id))});
  log.worker_id = call.caller_worker_id;
  c->hub->submit_log(std::move(log));
  return "null";
}

// --- logs ---

std::string logs_list(const Context& c, const InProcessCall&, const json::object& in) {
  const LogQuery q = parse_log_query(in);
  const LogPage page = c->hub->logs().list(q);
  std::string out = "{\"logs\":" + json_array(page.logs);
  out += ",\"total\":" + std::to_string(page.total) + ",\"query\":" + json_text::serialize(in) +
         ",\"timestamp\":" + std::to_string(now_ms()) + "}";
  return out;
}

// --- traces ---

std::string storage(const Context& c) {
  const SpanStoreStats s = c->hub->spans().stats();
  FrameWriter w(160);
  w.number("memory_spans", static_cast<long long>(s.spans))
      .number("memory_bytes", static_cast<long long>(s.bytes))
      .number("evicted_spans", static_cast<long long>(s.evicted))
      .number("dropped_spans", static_cast<long long>(c->hub->counters().spans_dropped));
  if (c->storage_json)
    if (std::string extra = c->storage_json(); !extra.empty()) w.raw("archive", extra);
  return w.finish();
}

std::string traces_list(const Context& c, const InProcessCall&, const json::object& in) {
  c->hub->drain();
  const SpanQuery q = parse_span_query(in);
  const SpanPage page = c->hub->spans().list(q);
  std::string out = "{\"spans\":" + json_array(page.spans);
  out += ",\"total\":" + std::to_string(page.total) + ",\"offset\":" + std::to_string(q.offset) +
         ",\"limit\":" + std::to_string(q.limit) + ",\"storage\":" + storage(c) + "}";
  return out;
}

void append_node(std::string& out, const SpanTreeNode& node) {
  out += "{\"span\":" + to_json(*node.span) + ",\"children\":[";
  for (size_t i = 0; i < node.children.size(); ++i) {
    if (i) out += ',';
    append_node(out, node.children[i]);
  }
  out += "]}";
}

std::string traces_tree(const Context& c, const InProcessCall&, const json::object& in) {
  const std::string trace_id = string_field(in, "trace_id");
  if (trace_id.empty()) throw std::invalid_argument("`trace_id` is required");
  c->hub->drain();
  std::vector<SpanPtr> spans = c->hub->spans().trace(trace_id);
  if (spans.empty() && c->archived_trace)  // evicted from memory: the archive may still have it
    for (const StoredSpan& s : c->archived_trace(trace_id)) spans.push_back(s.record());
  std::string out = "{\"roots\":[";
  const std::vector<SpanTreeNode> roots = build_tree(spans);
  for (size_t i = 0; i < roots.size(); ++i) {
    if (i) out += ',';
    append_node(out, roots[i]);
  }
  out += "],\"storage\":" + storage(c) + "}";
  return out;
}

std::string traces_group_by(const Context& c, const InProcessCall&, const json::object& in) {
  const std::string attribute = string_field(in, "attribute");
  if (attribute.empty()) throw std::invalid_argument("`attribute` is required");
  const QueryInput input(in);
  c->hub->drain();
  const std::vector<SpanGroup> groups =
      c->hub->spans().group_by(attribute, input.count("since_ms"), input.count("limit", 100),
                               input.flag("include_internal"), input.string("label_attribute"));
  std::string out = "{\"groups\":[";
  for (size_t i = 0; i < groups.size(); ++i) {
    const SpanGroup& g = groups[i];
    if (i) out += ',';
    out += FrameWriter(256)
               .string("value", g.value)
               .string("label", g.label)
               .raw("trace_ids", json_string_array(g.trace_ids))
               .number("span_count", static_cast<long long>(g.span_count))
               .number("first_seen_ms", static_cast<long long>(g.first_seen_ms))
               .number("last_seen_ms", static_cast<long long>(g.last_seen_ms))
               .raw("duration_ms", num(g.duration_ms))
               .number("error_count", static_cast<long long>(g.error_count))
               .finish();
  }
  out += "],\"storage\":" + storage(c) + "}";
  return out;
}

// --- metrics ---

std::string performance(const LatencyHistogram& h) {
  const double count = static_cast<double>(h.count());
  return FrameWriter(256)
      .raw("avg_duration_ms", num(count ? static_cast<double>(h.sum_nanos()) / count / 1e6 : 0))
      .raw("p50_duration_ms", num(h.quantile_nanos(0.5) / 1e6))
      .raw("p75_duration_ms", num(h.quantile_nanos(0.75) / 1e6))
      .raw("p90_duration_ms", num(h.quantile_nanos(0.9) / 1e6))
      .raw("p95_duration_ms", num(h.quantile_nanos(0.95) / 1e6))
      .raw("p99_duration_ms", num(h.quantile_nanos(0.99) / 1e6))
      .raw("min_duration_ms", num(static_cast<double>(h.min_nanos()) / 1e6))
      .raw("max_duration_ms", num(static_cast<double>(h.max_nanos()) / 1e6))
      .finish();
}

std::string metrics_list(const Context& c, const InProcessCall&, const json::object& in) {
  EngineMetrics& m = c->hub->metrics();
  std::string by_function = "{";
  m.for_each_function([&](const std::string& id, const FunctionCounters& f) {
    if (by_function.size() > 1) by_function += ',';
    append_json_string(by_function, id);
    const uint64_t ok = f.success.load(std::memory_order_relaxed), err = f.error.load(std::memory_order_relaxed);
    const double n = static_cast<double>(ok + err);
    by_function += ":" + FrameWriter(128)
                             .number("total", static_cast<long long>(ok + err))
                             .number("success", static_cast<long long>(ok))
                             .number("error", static_cast<long long>(err))
                             .raw("avg_duration_ms", num(n ? static_cast<double>(f.latency.sum_nanos()) / n / 1e6 : 0))
                             .raw("p99_duration_ms", num(f.latency.quantile_nanos(0.99) / 1e6))
                             .finish();
  });
  by_function += '}';
  const std::string invocations = FrameWriter(256)
                                      .number("total", static_cast<long long>(m.total()))
                                      .number("success", static_cast<long long>(m.success()))
                                      .number("error", static_cast<long long>(m.error()))
                                      .number("deferred", static_cast<long long>(m.deferred()))
                                      .raw("by_function", by_function)
                                      .finish();
  long long active = 0;
  if (c->engine)
    for (const WorkerEntry& w : c->engine->registry().workers()) active += w.endpoint->in_process() ? 0 : 1;
  const std::string workers = FrameWriter(96)
                                  .number("spawns", static_cast<long long>(m.spawns()))
                                  .number("deaths", static_cast<long long>(m.deaths()))
                                  .number("active", active)
                                  .finish();
  const QueryInput input(in);
  std::string sdk = "[";
  for (const MetricPoint& p : c->hub->sdk_metrics(input.string("metric_name"), input.count("start_time"), input.count("end_time"))) {
    if (sdk.size() > 1) sdk += ',';
    sdk += to_json(p);
  }
  sdk += ']';
  // aggregate_interval (seconds): the counters' history in buckets of that width.
  std::string aggregated = "[";
  if (const uint64_t interval = input.count("aggregate_interval"); interval > 0) {
    MetricsSlot bucket{};
    bool open = false;
    auto flush = [&] {
      if (!open) return;
      if (aggregated.size() > 1) aggregated += ',';
      aggregated += FrameWriter(160)
                        .number("timestamp", static_cast<long long>(bucket.unix_seconds * 1000))
                        .number("invocations", static_cast<long long>(bucket.total))
                        .number("success", static_cast<long long>(bucket.success))
                        .number("error", static_cast<long long>(bucket.error))
                        .raw("avg_duration_ms", num(bucket.total ? static_cast<double>(bucket.duration_nanos) /
                                                                       static_cast<double>(bucket.total) / 1e6
                                                                 : 0))
                        .finish();
    };
    for (const MetricsSlot& s : m.slots()) {
      const uint64_t start = s.unix_seconds - s.unix_seconds % interval;
      if (!open || start != bucket.unix_seconds) {
        flush();
        bucket = MetricsSlot{start};
        open = true;
      }
      bucket.total += s.total, bucket.success += s.success, bucket.error += s.error;
      bucket.duration_nanos += s.duration_nanos;
    }
    flush();
  }
  aggregated += ']';
  return "{\"engine_metrics\":{\"invocations\":" + invocations + ",\"workers\":" + workers +
         ",\"performance\":" + performance(m.latency()) + "},\"sdk_metrics\":" + sdk +
         ",\"timestamp\":" + std::to_string(now_ms()) + ",\"aggregated_metrics\":" + aggregated +
         ",\"query\":" + json_text::serialize(in) + "}";
}

std::string rollups_list(const Context& c, const InProcessCall&, const json::object& in) {
  const std::string level = string_field(in, "level");
  const std::vector<std::pair<std::string, uint64_t>> levels = {{"1m", 60}, {"5m", 300}, {"1h", 3600}};
  std::string out = "{\"rollups\":[";
  bool first = true;
  const std::vector<MetricsSlot> slots = c->hub->metrics().slots();
  for (const auto& [name, width] : levels) {
    if (!level.empty() && level != name) continue;
    std::map<uint64_t, MetricsSlot> buckets;
    for (const MetricsSlot& s : slots) {
      MetricsSlot& b = buckets[s.unix_seconds - s.unix_seconds % width];
      b.total += s.total, b.success += s.success, b.error += s.error, b.duration_nanos += s.duration_nanos;
      b.deferred += s.deferred;
    }
    for (const auto& [start, b] : buckets) {
      if (!first) out += ',';
      first = false;
      out += FrameWriter(200)
                 .string("level", name)
                 .number("start_time", static_cast<long long>(start * 1000))
                 .number("end_time", static_cast<long long>((start + width) * 1000))
                 .number("invocations", static_cast<long long>(b.total))
                 .number("success", static_cast<long long>(b.success))
                 .number("error", static_cast<long long>(b.error))
                 .number("deferred", static_cast<long long>(b.deferred))
                 .raw("avg_duration_ms",
                      num(b.total ? static_cast<double>(b.duration_nanos) / static_cast<double>(b.total) / 1e6 : 0))
                 .finish();
    }
  }
  return out + "],\"timestamp\":" + std::to_string(now_ms()) + "}";
}

std::string sampling_rules(const Context& c, const InProcessCall&, const json::object&) {
  const ObservabilityConfig& cfg = c->hub->config();
  std::string rules = "[";
  for (const SamplingRule& r : cfg.sampling_rules) {
    if (rules.size() > 1) rules += ',';
    rules += FrameWriter(96).string("operation", r.operation).string("service", r.service).raw("rate", num(r.rate)).finish();
  }
  rules += ']';
  FrameWriter traces(256);
  traces.raw("default_ratio", num(cfg.sampling_ratio)).raw("rules", rules).boolean("parent_based", cfg.parent_based);
  if (cfg.max_traces_per_second > 0)
    traces.raw("rate_limit", "{\"max_traces_per_second\":" + num(cfg.max_traces_per_second) + "}");
  return "{\"traces\":" + traces.finish() + ",\"logs\":{\"sampling_ratio\":" + num(cfg.logs_sampling_ratio) +
         "},\"timestamp\":" + std::to_string(now_ms()) + "}";
}

std::string health(const Context& c, const InProcessCall&, const json::object&) {
  const ObservabilityConfig& cfg = c->hub->config();
  auto component = [](bool enabled, std::string extra = {}) {
    return "{\"status\":\"" + std::string(enabled ? "healthy" : "disabled") + "\",\"enabled\":" +
           (enabled ? "true" : "false") + extra + "}";
  };
  const SpanStoreStats spans = c->hub->spans().stats();
  std::string components = "{\"otel\":" + component(cfg.enabled) + ",\"metrics\":" + component(cfg.metrics_enabled) +
                           ",\"logs\":" + component(cfg.logs_enabled, ",\"count\":" + std::to_string(c->hub->logs().stats().size)) +
                           ",\"spans\":" + component(cfg.keeps_traces(), ",\"count\":" + std::to_string(spans.spans));
  if (c->extra_components_json)
    if (std::string extra = c->extra_components_json(); !extra.empty()) components += "," + extra;
  components += '}';
  return "{\"status\":\"healthy\",\"components\":" + components + ",\"timestamp\":" + std::to_string(now_ms()) +
         ",\"version\":\"" III_VERSION "\"}";
}

std::string alerts_json(const Alerts* alerts) {
  std::string out = "[";
  if (alerts)
    for (const AlertState& s : alerts->states()) {
      if (out.size() > 1) out += ',';
      out += alert_state_json(s);
    }
  return out + "]";
}

// --- baggage: the caller's, as this call received it ---

std::string baggage_get(const Context&, const InProcessCall& call, const json::object& in) {
  const std::string key = string_field(in, "key");
  if (key.empty()) throw std::invalid_argument("`key` is required");
  for (const auto& [k, v] : parse_baggage(call.baggage))
    if (k == key) return FrameWriter(64).string("value", v).finish();
  return "{\"value\":null}";
}

std::string baggage_get_all(const Context&, const InProcessCall& call, const json::object&) {
  FrameWriter w(128);
  for (const auto& [k, v] : parse_baggage(call.baggage)) w.string(k, v);
  return "{\"baggage\":" + w.finish() + "}";
}

std::string baggage_set(const Context&, const InProcessCall&, const json::object& in) {
  if (string_field(in, "key").empty()) throw std::invalid_argument("`key` is required");
  return R"({"success":true,"note":"Baggage travels with the caller's trace context: the engine cannot change the caller's context. Set baggage in the SDK (setBaggageEntry) before calling."})";
}

}  // namespace

void add_observability_functions(InProcessWorker& w, std::shared_ptr<const ObservabilityFunctionContext> context) {
  const Context c = std::move(context);
  const std::pair<const char*, int> levels[] = {
      {"engine::log::trace", 1}, {"engine::log::debug", 5}, {"engine::log::info", 9},
      {"engine::log::warn", 13}, {"engine::log::error", 17}};
  for (const auto& [id, severity] : levels) {
    add(w, c, id, "Writes a log entry (message, data?, trace_id?, span_id?, service_name?)",
        [severity](const Context& ctx, const InProcessCall& call, const json::object& in) {
          return write_log(ctx, call, in, severity);
        });
  }
  add(w, c, "engine::logs::list", "Stored log entries, newest first, with filters", logs_list);
  add(w, c, "engine::logs::clear", "Clears the stored log entries", [](const Context& ctx, const InProcessCall&, const json::object&) {
    ctx->hub->logs().clear();
    return std::string(R"({"success":true,"message":"Logs cleared"})");
  });
  add(w, c, "engine::traces::list", "Stored spans with filters, sorting and paging", traces_list);
  add(w, c, "engine::traces::tree", "One trace as a tree of spans", traces_tree);
  add(w, c, "engine::traces::clear", "Clears the spans kept in memory", [](const Context& ctx, const InProcessCall&, const json::object&) {
    ctx->hub->drain();
    ctx->hub->spans().clear();
    return std::string(R"({"success":true})");
  });
  add(w, c, "engine::traces::group_by", "Spans grouped by an attribute's value", traces_group_by);
  add(w, c, "engine::metrics::list", "Engine counters, latency, workers and SDK metrics", metrics_list);
  add(w, c, "engine::rollups::list", "Invocation counts in 1-minute, 5-minute and 1-hour windows", rollups_list);
  add(w, c, "engine::sampling::rules", "The active trace and log sampling", sampling_rules);
  add(w, c, "engine::health::check", "Health of the engine and its telemetry", health);
  add(w, c, "engine::alerts::list", "Alert rules and their state", [](const Context& ctx, const InProcessCall&, const json::object&) {
    return "{\"alerts\":" + alerts_json(ctx->alerts.get()) + ",\"timestamp\":" + std::to_string(now_ms()) + "}";
  });
  add(w, c, "engine::alerts::evaluate", "Evaluates every alert rule now", [](const Context& ctx, const InProcessCall&, const json::object&) {
    std::vector<std::string> fired;
    if (ctx->alerts) fired = ctx->alerts->evaluate(now_ms());
    return "{\"fired\":" + json_string_array(fired) + ",\"alerts\":" + alerts_json(ctx->alerts.get()) +
           ",\"timestamp\":" + std::to_string(now_ms()) + "}";
  });
  add(w, c, "engine::baggage::get", "A baggage entry of the caller's context", baggage_get);
  add(w, c, "engine::baggage::set", "Explains where baggage is set (the caller's SDK)", baggage_set);
  add(w, c, "engine::baggage::get_all", "Every baggage entry of the caller's context", baggage_get_all);
}

}  // namespace iii::obs
