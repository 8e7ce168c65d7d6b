// Sends the engine's telemetry (spans, logs, SDK metric points) to an OpenTelemetry collector over
// OTLP/HTTP with JSON bodies: POST <base>/v1/traces, <base>/v1/metrics and <base>/v1/logs with
// Content-Type: application/json.
//
// OtlpExporter is built so that a slow or absent collector never hurts the engine:
//  * add_*() only appends to a mutex-guarded buffer per signal (no I/O, no waiting); the buffer
//    holds at most max_buffer records, and records beyond it are dropped and counted, so memory
//    never grows with an unreachable collector;
//  * a timer on the io_context sends one batch (≤ max_batch records) per signal every
//    flush_interval, sooner when a buffer fills a batch; at most one request per signal is in
//    flight;
//  * a failed request (refused connection, timeout, non-2xx) drops its batch (no retry queue),
//    counts it, and logs a warning at most once per 30 s per signal.
// The state lives in a shared Impl that timer and HTTP callbacks hold weakly, so the exporter may
// be destroyed while requests are in flight.
//
// The encoders (otlp_*_json) are pure functions, declared here to be testable on their own.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wire/asio_fwd.h"
#include "workers/observability/telemetry_records.h"

namespace iii::obs {

using OtlpHeaders = std::vector<std::pair<std::string, std::string>>;

// Where a collector listens, parsed from a base URL such as "http://127.0.0.1:4318",
// "https://otel.example.com/otlp" or "http://[::1]:4318/v1/traces".
struct OtlpEndpoint {
  bool https = false;
  std::string host;   // a name or an IP literal (IPv6 without brackets)
  uint16_t port = 0;  // 80 or 443 when the URL has none
  std::string base_path;  // "" or "/prefix" (no trailing slash, no /v1/<signal>)

  // "<base_path>/v1/traces" and so on.
  std::string target(std::string_view signal_path) const { return base_path + std::string(signal_path); }
};

// Parses a collector base URL: scheme http or https (any case), a host (IPv6 in brackets), an
// optional port and an optional path. A trailing "/v1/traces", "/v1/metrics" or "/v1/logs" (the
// per-signal URL some configurations give) is stripped so each signal still goes to its own path.
// User info, queries and fragments are refused. nullopt (with `error` set when given) if invalid.
std::optional<OtlpEndpoint> parse_otlp_endpoint(std::string_view url, std::string* error = nullptr);

// Parses the OTEL_EXPORTER_OTLP_HEADERS format: "key=value,key2=value2", whitespace around keys
// and values trimmed, values percent-decoded ("a%20b" → "a b"). Entries that are not key=value,
// whose key is not an HTTP token, or whose decoded value holds a control character (which could
// split the request's header block) are skipped, and `error` (when given) names the first one.
OtlpHeaders parse_otlp_headers(std::string_view text, std::string* error = nullptr);

// The resource the engine reports as. service_name also names records that carry none.
struct OtlpResource {
  std::string service_name = "iii";
  std::string service_version;
  std::string service_namespace;  // optional: omitted when empty
};

// OTLP/JSON export requests (the ExportTraceServiceRequest etc. messages in proto3 JSON form).
// Records are grouped into one resource entry per service name (a record without one belongs to
// `resource.service_name`); only the group named `resource.service_name` (the engine's own) also
// gets service.version and service.namespace. Logs are additionally grouped by their resource
// attributes, which are carried over. Within a resource, records are grouped by instrumentation
// scope (name, version); metric points by metric (name, type, unit, description), one data
// point each.
//
// Conversions: ids as lower-case hex (an id that is not valid hex of the right length becomes ""
// rather than making the collector reject the whole request); 64-bit integers as decimal
// strings; attribute values from their raw JSON: string → stringValue, integer → intValue,
// other number → doubleValue, bool → boolValue, array → arrayValue, object → kvlistValue,
// null → {} (an empty AnyValue). Non-finite doubles become "NaN"/"Infinity"/"-Infinity".
// Metric types: "gauge" → gauge, "sum" → monotonic cumulative sum, "histogram" and
// "exponential_histogram" → cumulative histogram with count and sum (no buckets are recorded),
// "summary" → summary with count and sum; anything else → gauge.
std::string otlp_traces_json(const std::vector<SpanRecord>& spans, const OtlpResource& resource);
std::string otlp_logs_json(const std::vector<LogRecord>& logs, const OtlpResource& resource);
std::string otlp_metrics_json(const std::vector<MetricPoint>& points, const OtlpResource& resource);

struct OtlpExporterOptions {
  std::string endpoint = "http://127.0.0.1:4318";  // the collector's base URL (parse_otlp_endpoint)
  std::string service_name = "iii";
  std::string service_version;
  std::string service_namespace;
  size_t max_batch = 512;                     // records per request
  std::chrono::milliseconds flush_interval{1000};
  size_t max_buffer = 8192;                   // records buffered per signal; more are dropped
  std::chrono::milliseconds timeout{10000};   // per request: resolve, connect, send, answer
  OtlpHeaders headers;                        // sent with every request (e.g. an API key)
};

struct OtlpExporterStats {
  uint64_t exported_spans = 0, exported_logs = 0, exported_metrics = 0;  // accepted by the collector (2xx)
  uint64_t dropped_spans = 0, dropped_logs = 0, dropped_metrics = 0;     // buffer full, or in a failed request
  uint64_t failed_requests = 0;
  // Waiting in the buffers now (each ≤ max_buffer).
  uint64_t buffered_spans = 0, buffered_logs = 0, buffered_metrics = 0;
};

class OtlpExporter {
 public:
  // Throws std::invalid_argument when options.endpoint is not a valid URL, or when max_batch,
  // max_buffer or flush_interval is zero.
  OtlpExporter(boost::asio::io_context& io, OtlpExporterOptions options);
  ~OtlpExporter();  // stop()
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  // Buffers records for export. Thread-safe, never waits for I/O. Records beyond max_buffer are
  // dropped (and counted). Before start() they only wait in the buffer.
  void add_spans(std::vector<SpanRecord> spans);
  void add_logs(std::vector<LogRecord> logs);
  void add_metrics(std::vector<MetricPoint> points);

  // Starts the flush timer (idempotent). stop() cancels it; requests in flight finish (their
  // outcome is still counted) but no new one starts. Both are safe from any thread; a stopped
  // exporter does not start again.
  void start();
  void stop();
  // Sends one batch per signal now (when none is in flight), without waiting for the timer.
  void flush();

  OtlpExporterStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii::obs
