// The OTLP/JSON reader as it was before the On-Demand one (otlp_ingest.cpp): every export parsed
// whole into a Boost.JSON DOM, then read. Kept for the tests only, as the reference the new
// reader must agree with record for record (otlp_ingest_test.cpp).
#pragma once
#include <boost/json.hpp>

#include <cstdlib>

#include "core/json_text.h"
#include "wire/json_writer.h"
#include "workers/observability/otlp_ingest.h"

namespace iii::obs::reference {
namespace {

namespace json = boost::json;

const json::value* get(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::array* arr(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}

const json::object* obj(const json::value& v) { return v.is_object() ? &v.get_object() : nullptr; }

// A 64-bit field the JSON mapping writes as a string ("1796529645813000000") or a number.
uint64_t u64(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  if (!v) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64()) return v->get_int64() < 0 ? 0 : static_cast<uint64_t>(v->get_int64());
  if (v->is_double()) return v->get_double() < 0 ? 0 : static_cast<uint64_t>(v->get_double());
  if (v->is_string()) return std::strtoull(std::string(v->get_string()).c_str(), nullptr, 10);
  return 0;
}

double dbl(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  if (!v) return 0;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_string()) return std::strtod(std::string(v->get_string()).c_str(), nullptr);
  return 0;
}

std::string id_hex(std::string_view s, size_t bytes) { return otlp_id_hex(s, bytes); }

void cut(std::string& text, size_t max_bytes) {
  std::string storage;
  const std::string_view cut = cut_attribute(text, max_bytes, storage);
  if (cut.data() != text.data()) text = std::string(cut);
}

json::value any_value(const json::value& v, size_t max_bytes);

json::value any_value(const json::object& o, size_t max_bytes) {
  if (auto* s = get(o, "stringValue"); s && s->is_string()) {
    std::string text(s->get_string());
    cut(text, max_bytes);
    return json::string(text);
  }
  if (auto* b = get(o, "boolValue")) return b->is_bool() ? json::value(b->get_bool()) : json::value();
  if (get(o, "intValue")) {
    const json::value* i = get(o, "intValue");
    if (i->is_int64() || i->is_uint64()) return *i;
    if (i->is_string()) return json::value(std::strtoll(std::string(i->get_string()).c_str(), nullptr, 10));
  }
  if (get(o, "doubleValue")) return json::value(dbl(o, "doubleValue"));
  if (auto* a = get(o, "arrayValue"); a && a->is_object()) {
    json::array out;
    if (auto* values = arr(a->get_object(), "values"))
      for (const json::value& x : *values) out.push_back(any_value(x, max_bytes));
    return out;
  }
  if (auto* kv = get(o, "kvlistValue"); kv && kv->is_object()) {
    json::object out;
    if (auto* values = arr(kv->get_object(), "values"))
      for (const json::value& x : *values)
        if (auto* e = obj(x)) out[str(*e, "key")] = get(*e, "value") ? any_value(*get(*e, "value"), max_bytes) : json::value();
    return out;
  }
  if (auto* b = get(o, "bytesValue"); b && b->is_string()) return json::string(b->get_string());
  return {};
}

json::value any_value(const json::value& v, size_t max_bytes) {
  const json::object* o = obj(v);
  return o ? any_value(*o, max_bytes) : json::value();
}

Attributes attributes(const json::object& o, size_t max_bytes, std::string_view key = "attributes") {
  Attributes out;
  const json::array* list = arr(o, key);
  if (!list) return out;
  out.reserve(list->size());
  for (const json::value& x : *list) {
    const json::object* kv = obj(x);
    if (!kv) continue;
    const json::value* value = get(*kv, "value");
    out.push_back(Attribute{str(*kv, "key"), json_text::serialize(value ? any_value(*value, max_bytes) : json::value())});
  }
  return out;
}

// The resource's service.name, unquoted.
std::string service_of(const Attributes& resource) {
  for (const Attribute& a : resource)
    if (a.key == "service.name" && a.value.size() >= 2 && a.value.front() == '"') {
      std::optional<json::value> v = json_text::parse(a.value);
      if (v && v->is_string()) return std::string(v->get_string());
    }
  return {};
}

struct Scope {
  std::string name, version;
};

Scope scope_of(const json::object& scoped) {
  const json::value* s = get(scoped, "scope");
  if (!s || !s->is_object()) return {};
  return Scope{str(s->get_object(), "name"), str(s->get_object(), "version")};
}

// Calls fn(resource, service, scope, record) for every record of an OTLP export: the objects in
// root[resources_key][i][scopes_key][j][records_key][k].
template <class Fn>
void for_each_record(const json::object& root, const char* resources_key, const char* scopes_key,
                     const char* records_key, size_t max_bytes, Fn&& fn) {
  const json::array* resources = arr(root, resources_key);
  if (!resources) return;
  for (const json::value& rv : *resources) {
    const json::object* r = obj(rv);
    if (!r) continue;
    const json::value* res = get(*r, "resource");
    const Attributes resource = res && res->is_object() ? attributes(res->get_object(), max_bytes) : Attributes{};
    const std::string service = service_of(resource);
    const json::array* scopes = arr(*r, scopes_key);
    if (!scopes) continue;
    for (const json::value& sv : *scopes) {
      const json::object* scoped = obj(sv);
      const json::array* records = scoped ? arr(*scoped, records_key) : nullptr;
      if (!records) continue;
      const Scope scope = scope_of(*scoped);
      for (const json::value& record : *records)
        if (const json::object* o = obj(record)) fn(resource, service, scope, *o);
    }
  }
}

void read_span(const json::object& sp, const std::string& service, const Scope& scope, size_t max_bytes,
               IngestedTelemetry& out) {
  SpanRecord s;
  s.trace_id = id_hex(str(sp, "traceId"), 16);
  s.span_id = id_hex(str(sp, "spanId"), 8);
  if (s.trace_id.empty() || s.span_id.empty()) {
    ++out.skipped;
    return;
  }
  s.parent_span_id = id_hex(str(sp, "parentSpanId"), 8);
  s.name = str(sp, "name");
  s.kind = static_cast<uint8_t>(u64(sp, "kind"));
  s.start_time_unix_nano = u64(sp, "startTimeUnixNano");
  s.end_time_unix_nano = u64(sp, "endTimeUnixNano");
  if (const json::value* st = get(sp, "status"); st && st->is_object()) {
    const uint64_t code = u64(st->get_object(), "code");
    s.status = code == 1 ? SpanStatus::kOk : code == 2 ? SpanStatus::kError : SpanStatus::kUnset;
    s.status_message = str(st->get_object(), "message");
  }
  s.service_name = service;
  s.scope_name = scope.name;
  s.scope_version = scope.version;
  s.flags = static_cast<uint32_t>(u64(sp, "flags") & 0xff);
  if (s.flags == 0) s.flags = 1;  // exported spans were sampled
  s.attributes = attributes(sp, max_bytes);
  if (const json::array* events = arr(sp, "events"))
    for (const json::value& ev : *events)
      if (const json::object* e = obj(ev))
        s.events.push_back(SpanEvent{str(*e, "name"), u64(*e, "timeUnixNano"), attributes(*e, max_bytes)});
  out.spans.push_back(std::move(s));
}

void read_log(const json::object& lr, const Attributes& resource, const std::string& service, const Scope& scope,
              size_t max_bytes, IngestedTelemetry& out) {
  LogRecord l;
  l.time_unix_nano = u64(lr, "timeUnixNano");
  l.observed_time_unix_nano = u64(lr, "observedTimeUnixNano");
  if (l.time_unix_nano == 0) l.time_unix_nano = l.observed_time_unix_nano;
  l.severity_number = static_cast<int>(u64(lr, "severityNumber"));
  l.severity_text = str(lr, "severityText");
  if (l.severity_text.empty()) l.severity_text = std::string(severity_text_for(l.severity_number));
  const json::value* body = get(lr, "body");
  l.body = json_text::serialize(body ? any_value(*body, max_bytes) : json::value(""));
  l.attributes = attributes(lr, max_bytes);
  l.trace_id = id_hex(str(lr, "traceId"), 16);
  l.span_id = id_hex(str(lr, "spanId"), 8);
  l.resource = resource;
  l.service_name = service;
  l.scope_name = scope.name;
  l.scope_version = scope.version;
  out.logs.push_back(std::move(l));
}

void read_points(const json::object& metric, const char* kind, MetricPoint base, size_t max_bytes,
                 IngestedTelemetry& out) {
  const json::value* body = get(metric, kind);
  if (!body || !body->is_object()) return;
  const json::array* points = arr(body->get_object(), "dataPoints");
  if (!points) return;
  base.type = kind == std::string_view("exponentialHistogram") ? "exponential_histogram" : kind;
  for (const json::value& pv : *points) {
    const json::object* p = obj(pv);
    if (!p) continue;
    MetricPoint m = base;
    m.time_unix_nano = u64(*p, "timeUnixNano");
    m.value = dbl(*p, "asDouble");
    if (const json::value* i = get(*p, "asInt")) {  // a 64-bit integer, possibly negative, often a string
      if (i->is_string()) m.value = static_cast<double>(std::strtoll(std::string(i->get_string()).c_str(), nullptr, 10));
      else m.value = dbl(*p, "asInt");
    }
    m.count = u64(*p, "count");
    m.sum = dbl(*p, "sum");
    m.attributes = attributes(*p, max_bytes);
    out.metrics.push_back(std::move(m));
  }
}

void read_metric(const json::object& m, const std::string& service, size_t max_bytes, IngestedTelemetry& out) {
  MetricPoint base;
  base.name = str(m, "name");
  base.description = str(m, "description");
  base.unit = str(m, "unit");
  base.service_name = service;
  for (const char* kind : {"gauge", "sum", "histogram", "exponentialHistogram", "summary"})
    read_points(m, kind, base, max_bytes, out);
}

}  // namespace

inline IngestedTelemetry parse_telemetry_frame_dom(std::string_view frame, size_t max_attribute_bytes) {
  IngestedTelemetry out;
  if (frame.size() < 4) {
    out.error = "frame shorter than its prefix";
    return out;
  }
  const std::string_view prefix = frame.substr(0, 4);
  std::string error;
  std::optional<json::value> root = json_text::parse(frame.substr(4), &error);
  if (!root || !root->is_object()) {
    out.error = root ? "not a JSON object" : "not valid JSON: " + error;
    return out;
  }
  const json::object& o = root->get_object();
  const size_t cap = max_attribute_bytes;
  if (prefix == "OTLP") {
    for_each_record(o, "resourceSpans", "scopeSpans", "spans", cap,
                    [&](const Attributes&, const std::string& service, const Scope& scope, const json::object& r) {
                      read_span(r, service, scope, cap, out);
                    });
  } else if (prefix == "LOGS") {
    for_each_record(o, "resourceLogs", "scopeLogs", "logRecords", cap,
                    [&](const Attributes& resource, const std::string& service, const Scope& scope,
                        const json::object& r) { read_log(r, resource, service, scope, cap, out); });
  } else if (prefix == "MTRC") {
    for_each_record(o, "resourceMetrics", "scopeMetrics", "metrics", cap,
                    [&](const Attributes&, const std::string& service, const Scope&, const json::object& r) {
                      read_metric(r, service, cap, out);
                    });
  } else {
    out.error = "unknown telemetry prefix";
  }
  return out;
}

}  // namespace iii::obs::reference
