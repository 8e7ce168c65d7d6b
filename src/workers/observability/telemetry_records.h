// The records iii-observability keeps (docs/observability.md): spans (the engine's own, one per
// routed invocation, and the ones SDK workers export over /otel), log entries and SDK metric
// points. Plain values, cheap to copy into the bounded stores, the archive on disk and the OTLP
// exporter; their JSON shapes (to_json) are what engine::traces::* and engine::logs::* answer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iii::obs {

// One attribute. `value` is raw JSON of a scalar ("\"text\"", "42", "true") or, for OTLP array
// and key-value-list values, of the array or object they convert to.
struct Attribute {
  std::string key;
  std::string value;
};
using Attributes = std::vector<Attribute>;

enum class SpanStatus : uint8_t { kUnset = 0, kOk = 1, kError = 2 };  // the OTLP status codes
std::string_view status_name(SpanStatus s);  // "unset" | "ok" | "error"

// OTLP span kinds (1 internal, 2 server, 3 client, 4 producer, 5 consumer; 0 unspecified).
struct SpanEvent {
  std::string name;
  uint64_t time_unix_nano = 0;
  Attributes attributes;
};

struct SpanRecord {
  std::string trace_id;        // 32 lower-case hex
  std::string span_id;         // 16 lower-case hex
  std::string parent_span_id;  // 16 hex, or empty for a root
  std::string name;
  uint8_t kind = 1;
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;
  std::string service_name;  // the resource's service.name ("iii" for the engine's own spans)
  std::string scope_name;    // instrumentation scope, may be empty
  std::string scope_version;
  uint32_t flags = 1;        // W3C trace flags (bit 0: sampled)
  Attributes attributes;
  std::vector<SpanEvent> events;
  bool engine_span = false;  // recorded by this engine (not ingested from a worker)

  uint64_t duration_nanos() const { return end_time_unix_nano > start_time_unix_nano ? end_time_unix_nano - start_time_unix_nano : 0; }
  // The raw JSON value of attribute `key`, or empty.
  std::string_view attribute(std::string_view key) const;
  // Rough heap footprint, for the stores' byte bounds.
  size_t approx_bytes() const;
};

// OTLP severity numbers: trace 1, debug 5, info 9, warn 13, error 17, fatal 21.
struct LogRecord {
  uint64_t time_unix_nano = 0;
  uint64_t observed_time_unix_nano = 0;
  int severity_number = 9;
  std::string severity_text;  // "INFO", as sent or derived from the number
  std::string body;           // raw JSON (usually a string)
  Attributes attributes;
  std::string trace_id;  // hex or empty
  std::string span_id;
  Attributes resource;
  std::string service_name;
  std::string scope_name;
  std::string scope_version;
  std::string worker_id;  // the connection it came from; empty for engine::log::* and the engine

  size_t approx_bytes() const;
};

// One data point of a metric an SDK exported (MTRC frames). Gauges and sums carry `value`;
// histograms carry count and sum.
struct MetricPoint {
  std::string name;
  std::string description;
  std::string unit;
  std::string type;  // "gauge" | "sum" | "histogram" | "exponential_histogram" | "summary"
  double value = 0;
  uint64_t count = 0;
  double sum = 0;
  uint64_t time_unix_nano = 0;
  Attributes attributes;
  std::string service_name;
};

using SpanPtr = std::shared_ptr<const SpanRecord>;

// The JSON shapes the query functions answer (docs/observability.md "Records").
//   span: {"trace_id","span_id","parent_span_id"(null for roots),"name","kind","start_time_unix_nano",
//          "end_time_unix_nano","duration_ms","status","status_description"?,"attributes":{k:v},
//          "service_name","events":[{"name","timestamp_unix_nano","attributes":{}}],"links":[],
//          "instrumentation_scope_name"?,"instrumentation_scope_version"?,"flags"}
//   log:  {"timestamp_unix_nano","observed_timestamp_unix_nano","severity_number","severity_text","body",
//          "attributes":{},"trace_id","span_id","resource":{},"service_name",
//          "instrumentation_scope_name","instrumentation_scope_version"}
std::string to_json(const SpanRecord& span);
std::string to_json(const LogRecord& log);
std::string to_json(const MetricPoint& point);
// Appends an attribute list as a JSON object {"key": value, ...} (later duplicates win).
void append_attributes_object(std::string& out, const Attributes& attributes);

// Severity text for an OTLP severity number (1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN,
// 17–20 ERROR, 21–24 FATAL; else "UNSPECIFIED").
std::string_view severity_text_for(int severity_number);

}  // namespace iii::obs
