// The OTLP/JSON encoders of otlp_exporter.h: records into ExportTraceServiceRequest,
// ExportLogsServiceRequest and ExportMetricsServiceRequest JSON, as collectors read it.
#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/json_text.h"
#include "workers/observability/otlp_exporter.h"

namespace iii::obs {
namespace json = boost::json;

// --- OTLP/JSON encoding ------------------------------------------------------------------------

namespace {

// proto3 JSON writes 64-bit integers as strings (JavaScript numbers cannot hold them).
json::string u64(uint64_t v) { return json::string(std::to_string(v)); }

// proto3 JSON spells the non-finite doubles as strings; JSON numbers cannot express them.
json::value real(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return d;
}

// Lower-case hex of exactly `bytes` bytes, else "": a malformed id from a worker must not make
// the collector reject the whole batch (it accepts "" as an absent id).
std::string otlp_id(std::string_view hex, size_t bytes) {
  if (hex.size() != bytes * 2) return {};
  std::string out(hex);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  }
  return out;
}

json::object any_value(const json::value& v) {
  json::object out;
  switch (v.kind()) {
    case json::kind::null: break;  // an empty AnyValue
    case json::kind::bool_: out["boolValue"] = v.get_bool(); break;
    case json::kind::int64: out["intValue"] = json::string(std::to_string(v.get_int64())); break;
    case json::kind::uint64:
      // intValue is signed 64-bit: a larger integer only fits as a double.
      if (v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) out["intValue"] = u64(v.get_uint64());
      else out["doubleValue"] = static_cast<double>(v.get_uint64());
      break;
    case json::kind::double_: out["doubleValue"] = real(v.get_double()); break;
    case json::kind::string: out["stringValue"] = v.get_string(); break;
    case json::kind::array: {
      json::array values;
      for (const json::value& item : v.get_array()) values.push_back(any_value(item));
      out["arrayValue"] = json::object{{"values", std::move(values)}};
      break;
    }
    case json::kind::object: {
      json::array values;
      for (const auto& kv : v.get_object()) values.push_back(json::object{{"key", kv.key()}, {"value", any_value(kv.value())}});
      out["kvlistValue"] = json::object{{"values", std::move(values)}};
      break;
    }
  }
  return out;
}

// Our values are raw JSON; text that does not parse (it should not happen) is kept as a string.
json::object any_value(std::string_view raw) {
  if (raw.empty()) return {};
  std::optional<json::value> parsed = json_text::parse(raw);
  if (!parsed) return json::object{{"stringValue", raw}};
  return any_value(*parsed);
}

json::object key_value(std::string_view key, json::object value) {
  return json::object{{"key", key}, {"value", std::move(value)}};
}

// OTLP keys are unique within a list: a later duplicate wins, as in append_attributes_object.
json::array attributes(const Attributes& attrs, std::initializer_list<std::string_view> skip = {}) {
  json::array out;
  for (size_t i = 0; i < attrs.size(); ++i) {
    const std::string& key = attrs[i].key;
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    if (std::any_of(attrs.begin() + static_cast<std::ptrdiff_t>(i) + 1, attrs.end(), [&](const Attribute& a) { return a.key == key; })) continue;
    out.push_back(key_value(key, any_value(attrs[i].value)));
  }
  return out;
}

json::object string_value(std::string_view s) { return json::object{{"stringValue", s}}; }

// service.name always; version and namespace only for the engine's own service; then the
// record's own resource attributes (logs), which cannot override those.
json::object resource_json(const std::string& service, const OtlpResource& r, const Attributes* extra = nullptr) {
  json::array attrs;
  attrs.push_back(key_value("service.name", string_value(service)));
  if (service == r.service_name) {
    if (!r.service_version.empty()) attrs.push_back(key_value("service.version", string_value(r.service_version)));
    if (!r.service_namespace.empty()) attrs.push_back(key_value("service.namespace", string_value(r.service_namespace)));
  }
  if (extra)
    for (json::value& a : attributes(*extra, {"service.name", "service.version", "service.namespace"})) attrs.push_back(std::move(a));
  return json::object{{"attributes", std::move(attrs)}};
}

json::object scope_json(const std::string& name, const std::string& version) {
  json::object scope;
  if (!name.empty()) scope["name"] = name;
  if (!version.empty()) scope["version"] = version;
  return scope;
}

// Splits `items` into groups of equal key, groups and members in first-seen order.
template <class T, class KeyFn>
std::vector<std::vector<const T*>> group_by(const std::vector<const T*>& items, KeyFn key) {
  std::vector<std::vector<const T*>> groups;
  std::unordered_map<std::string, size_t> index;
  for (const T* item : items) {
    auto [it, fresh] = index.try_emplace(key(*item), groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(item);
  }
  return groups;
}

template <class T>
std::vector<const T*> pointers(const std::vector<T>& items) {
  std::vector<const T*> out;
  out.reserve(items.size());
  for (const T& item : items) out.push_back(&item);
  return out;
}

template <class T>
std::string service_of(const T& record, const OtlpResource& r) {
  return record.service_name.empty() ? r.service_name : record.service_name;
}

json::object span_json(const SpanRecord& s) {
  json::object span{{"traceId", otlp_id(s.trace_id, 16)}, {"spanId", otlp_id(s.span_id, 8)}};
  if (!s.parent_span_id.empty()) span["parentSpanId"] = otlp_id(s.parent_span_id, 8);
  span["name"] = s.name;
  span["kind"] = s.kind;
  span["startTimeUnixNano"] = u64(s.start_time_unix_nano);
  span["endTimeUnixNano"] = u64(s.end_time_unix_nano);
  span["flags"] = s.flags;
  span["attributes"] = attributes(s.attributes);
  json::array events;
  for (const SpanEvent& e : s.events)
    events.push_back(json::object{{"name", e.name}, {"timeUnixNano", u64(e.time_unix_nano)}, {"attributes", attributes(e.attributes)}});
  span["events"] = std::move(events);
  json::object status{{"code", static_cast<int>(s.status)}};
  if (!s.status_message.empty()) status["message"] = s.status_message;
  span["status"] = std::move(status);
  return span;
}

json::object log_json(const LogRecord& l) {
  json::object log{{"timeUnixNano", u64(l.time_unix_nano)}, {"observedTimeUnixNano", u64(l.observed_time_unix_nano)},
                   {"severityNumber", l.severity_number}, {"severityText", l.severity_text}};
  if (!l.body.empty()) log["body"] = any_value(l.body);
  log["attributes"] = attributes(l.attributes);
  if (std::string id = otlp_id(l.trace_id, 16); !id.empty()) log["traceId"] = std::move(id);
  if (std::string id = otlp_id(l.span_id, 8); !id.empty()) log["spanId"] = std::move(id);
  return log;
}

// One metric (name, type, unit, description) with a data point per MetricPoint.
json::object metric_json(const std::vector<const MetricPoint*>& points) {
  const MetricPoint& first = *points.front();
  const bool counted = first.type == "histogram" || first.type == "exponential_histogram" || first.type == "summary";
  json::array data;
  for (const MetricPoint* p : points) {
    json::object dp{{"timeUnixNano", u64(p->time_unix_nano)}, {"attributes", attributes(p->attributes)}};
    if (counted) {
      dp["count"] = u64(p->count);
      dp["sum"] = real(p->sum);
    } else {
      dp["asDouble"] = real(p->value);
    }
    data.push_back(std::move(dp));
  }
  json::object metric{{"name", first.name}};
  if (!first.description.empty()) metric["description"] = first.description;
  if (!first.unit.empty()) metric["unit"] = first.unit;
  constexpr int kCumulative = 2;  // AGGREGATION_TEMPORALITY_CUMULATIVE
  if (first.type == "sum")
    metric["sum"] = json::object{{"dataPoints", std::move(data)}, {"aggregationTemporality", kCumulative}, {"isMonotonic", true}};
  else if (first.type == "summary") metric["summary"] = json::object{{"dataPoints", std::move(data)}};
  else if (counted) metric["histogram"] = json::object{{"dataPoints", std::move(data)}, {"aggregationTemporality", kCumulative}};
  else metric["gauge"] = json::object{{"dataPoints", std::move(data)}};
  return metric;
}

std::string scope_key(const std::string& name, const std::string& version) { return name + '\0' + version; }

}  // namespace

std::string otlp_traces_json(const std::vector<SpanRecord>& spans, const OtlpResource& r) {
  json::array resources;
  for (const auto& service : group_by(pointers(spans), [&](const SpanRecord& s) { return service_of(s, r); })) {
    json::array scopes;
    for (const auto& scope : group_by(service, [](const SpanRecord& s) { return scope_key(s.scope_name, s.scope_version); })) {
      json::array out;
      for (const SpanRecord* s : scope) out.push_back(span_json(*s));
      scopes.push_back(json::object{{"scope", scope_json(scope.front()->scope_name, scope.front()->scope_version)}, {"spans", std::move(out)}});
    }
    resources.push_back(json::object{{"resource", resource_json(service_of(*service.front(), r), r)}, {"scopeSpans", std::move(scopes)}});
  }
  return json_text::serialize(json::object{{"resourceSpans", std::move(resources)}});
}

std::string otlp_logs_json(const std::vector<LogRecord>& logs, const OtlpResource& r) {
  json::array resources;
  // Logs carry their SDK's resource attributes: records of one service with different resources
  // stay apart so that each keeps its own.
  auto resource_key = [&](const LogRecord& l) {
    std::string key = service_of(l, r) + '\0';
    append_attributes_object(key, l.resource);
    return key;
  };
  for (const auto& resource : group_by(pointers(logs), resource_key)) {
    json::array scopes;
    for (const auto& scope : group_by(resource, [](const LogRecord& l) { return scope_key(l.scope_name, l.scope_version); })) {
      json::array out;
      for (const LogRecord* l : scope) out.push_back(log_json(*l));
      scopes.push_back(json::object{{"scope", scope_json(scope.front()->scope_name, scope.front()->scope_version)}, {"logRecords", std::move(out)}});
    }
    const LogRecord& first = *resource.front();
    resources.push_back(json::object{{"resource", resource_json(service_of(first, r), r, &first.resource)}, {"scopeLogs", std::move(scopes)}});
  }
  return json_text::serialize(json::object{{"resourceLogs", std::move(resources)}});
}

std::string otlp_metrics_json(const std::vector<MetricPoint>& points, const OtlpResource& r) {
  json::array resources;
  auto metric_key = [](const MetricPoint& p) { return p.name + '\0' + p.type + '\0' + p.unit + '\0' + p.description; };
  for (const auto& service : group_by(pointers(points), [&](const MetricPoint& p) { return service_of(p, r); })) {
    json::array metrics;
    for (const auto& metric : group_by(service, metric_key)) metrics.push_back(metric_json(metric));
    json::array scopes;  // MetricPoint has no scope: one empty scope
    scopes.push_back(json::object{{"scope", json::object{}}, {"metrics", std::move(metrics)}});
    resources.push_back(json::object{{"resource", resource_json(service_of(*service.front(), r), r)}, {"scopeMetrics", std::move(scopes)}});
  }
  return json_text::serialize(json::object{{"resourceMetrics", std::move(resources)}});
}

}  // namespace iii::obs
