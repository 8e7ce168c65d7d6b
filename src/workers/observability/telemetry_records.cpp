#include "workers/observability/telemetry_records.h"

#include <charconv>
#include <cmath>

#include "wire/json_writer.h"

namespace iii::obs {
namespace {

void key(std::string& out, std::string_view k) {
  if (out.back() != '{') out += ',';
  append_json_string(out, k);
  out += ':';
}

void str(std::string& out, std::string_view k, std::string_view v) {
  key(out, k);
  append_json_string(out, v);
}

void num(std::string& out, std::string_view k, uint64_t v) {
  key(out, k);
  out += std::to_string(v);
}

void real(std::string& out, std::string_view k, double v) {
  key(out, k);
  // NaN and infinities are not JSON.
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;  // the shortest exact form
  out.append(buf, end);
}

// What a string costs on the heap beyond its own object: nothing while it fits the small-string
// buffer, else its buffer rounded to malloc's 16-byte granule plus malloc's header.
size_t heap(const std::string& s) { return s.capacity() > 15 ? (s.capacity() + 1 + 15) / 16 * 16 + 16 : 0; }

size_t attrs_bytes(const Attributes& a) {
  size_t n = a.capacity() ? a.capacity() * sizeof(Attribute) + 16 : 0;
  for (const auto& x : a) n += heap(x.key) + heap(x.value);
  return n;
}

}  // namespace

std::string_view status_name(SpanStatus s) {
  switch (s) {
    case SpanStatus::kOk: return "ok";
    case SpanStatus::kError: return "error";
    case SpanStatus::kUnset: break;
  }
  return "unset";
}

std::string_view severity_text_for(int n) {
  if (n >= 1 && n <= 4) return "TRACE";
  if (n >= 5 && n <= 8) return "DEBUG";
  if (n >= 9 && n <= 12) return "INFO";
  if (n >= 13 && n <= 16) return "WARN";
  if (n >= 17 && n <= 20) return "ERROR";
  if (n >= 21 && n <= 24) return "FATAL";
  return "UNSPECIFIED";
}

std::string_view SpanRecord::attribute(std::string_view k) const {
  for (auto it = attributes.rbegin(); it != attributes.rend(); ++it)
    if (it->key == k) return it->value;
  return {};
}

size_t SpanRecord::approx_bytes() const {
  // The record itself sits in a make_shared block (+ control block and malloc header).
  size_t n = sizeof(SpanRecord) + 32 + heap(trace_id) + heap(span_id) + heap(parent_span_id) + heap(name) +
             heap(status_message) + heap(service_name) + heap(scope_name) + heap(scope_version) +
             attrs_bytes(attributes) + (events.capacity() ? events.capacity() * sizeof(SpanEvent) + 16 : 0);
  for (const auto& e : events) n += heap(e.name) + attrs_bytes(e.attributes);
  return n;
}

size_t LogRecord::approx_bytes() const {
  return sizeof(LogRecord) + 32 + heap(severity_text) + heap(body) + attrs_bytes(attributes) + heap(trace_id) +
         heap(span_id) + attrs_bytes(resource) + heap(service_name) + heap(scope_name) + heap(scope_version) +
         heap(worker_id);
}

void append_attributes_object(std::string& out, const Attributes& attributes) {
  out += '{';
  for (size_t i = 0; i < attributes.size(); ++i) {
    // Later duplicates win: skip an entry that a later one with the same key replaces.
    bool replaced = false;
    for (size_t j = i + 1; j < attributes.size() && !replaced; ++j) replaced = attributes[j].key == attributes[i].key;
    if (replaced) continue;
    if (out.back() != '{') out += ',';
    append_json_string(out, attributes[i].key);
    out += ':';
    out += attributes[i].value.empty() ? std::string_view("null") : std::string_view(attributes[i].value);
  }
  out += '}';
}

std::string to_json(const SpanRecord& s) {
  std::string out;
  out.reserve(384 + s.attributes.size() * 48);
  out += '{';
  str(out, "trace_id", s.trace_id);
  str(out, "span_id", s.span_id);
  key(out, "parent_span_id");
  if (s.parent_span_id.empty()) out += "null";
  else append_json_string(out, s.parent_span_id);
  str(out, "name", s.name);
  num(out, "kind", s.kind);
  num(out, "start_time_unix_nano", s.start_time_unix_nano);
  num(out, "end_time_unix_nano", s.end_time_unix_nano);
  real(out, "duration_ms", static_cast<double>(s.duration_nanos()) / 1e6);
  str(out, "status", status_name(s.status));
  if (!s.status_message.empty()) str(out, "status_description", s.status_message);
  key(out, "attributes");
  append_attributes_object(out, s.attributes);
  str(out, "service_name", s.service_name);
  key(out, "events");
  out += '[';
  for (const SpanEvent& e : s.events) {
    if (out.back() != '[') out += ',';
    out += '{';
    str(out, "name", e.name);
    num(out, "timestamp_unix_nano", e.time_unix_nano);
    key(out, "attributes");
    append_attributes_object(out, e.attributes);
    out += '}';
  }
  out += ']';
  key(out, "links");
  out += "[]";
  if (!s.scope_name.empty()) str(out, "instrumentation_scope_name", s.scope_name);
  if (!s.scope_version.empty()) str(out, "instrumentation_scope_version", s.scope_version);
  num(out, "flags", s.flags);
  out += '}';
  return out;
}

std::string to_json(const LogRecord& l) {
  std::string out;
  out.reserve(320 + l.body.size());
  out += '{';
  num(out, "timestamp_unix_nano", l.time_unix_nano);
  num(out, "observed_timestamp_unix_nano", l.observed_time_unix_nano);
  key(out, "severity_number");
  out += std::to_string(l.severity_number);
  str(out, "severity_text", l.severity_text.empty() ? severity_text_for(l.severity_number) : l.severity_text);
  key(out, "body");
  out += l.body.empty() ? std::string_view("\"\"") : std::string_view(l.body);
  key(out, "attributes");
  append_attributes_object(out, l.attributes);
  str(out, "trace_id", l.trace_id);
  str(out, "span_id", l.span_id);
  key(out, "resource");
  append_attributes_object(out, l.resource);
  str(out, "service_name", l.service_name);
  str(out, "instrumentation_scope_name", l.scope_name);
  str(out, "instrumentation_scope_version", l.scope_version);
  out += '}';
  return out;
}

std::string to_json(const MetricPoint& p) {
  std::string out = "{";
  str(out, "name", p.name);
  str(out, "description", p.description);
  str(out, "unit", p.unit);
  str(out, "type", p.type);
  real(out, "value", p.value);
  num(out, "count", p.count);
  real(out, "sum", p.sum);
  num(out, "timestamp_unix_nano", p.time_unix_nano);
  key(out, "attributes");
  append_attributes_object(out, p.attributes);
  str(out, "service_name", p.service_name);
  out += '}';
  return out;
}

}  // namespace iii::obs
