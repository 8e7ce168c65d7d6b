// Reads the telemetry frames SDK workers send (docs/protocol.md §1.8): a 4-byte prefix and
// OTLP/JSON — "OTLP" an ExportTraceServiceRequest, "LOGS" an ExportLogsServiceRequest, "MTRC" an
// ExportMetricsServiceRequest — into the records the stores keep. Lenient like collectors are:
// ids in hex (or base64, which the proto3 JSON mapping also allows), 64-bit numbers as strings or
// numbers, unknown fields ignored; a frame that is not valid JSON (or nested deeper than
// json_depth_limit()) is an error and yields no record, a record missing its ids is skipped.
//
// One simdjson On-Demand pass: the fields are read straight into the records, no DOM is built,
// and every other value is still walked so that invalid JSON anywhere in the frame is refused.
// A key given twice counts once, its last value (as a DOM parser keeps it).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "workers/observability/telemetry_records.h"

namespace iii::obs {

struct IngestedTelemetry {
  std::vector<SpanRecord> spans;
  std::vector<LogRecord> logs;
  std::vector<MetricPoint> metrics;
  std::string error;  // why the frame was dropped; empty when it was read
  size_t skipped = 0; // records without the fields they need
};

// The bytes the parser may read past the end of a frame (simdjson::SIMDJSON_PADDING).
inline constexpr size_t kTelemetryFramePadding = 64;

// `max_attribute_bytes` cuts longer string attribute values (0: no cut). Copies the frame into a
// per-thread padded buffer first.
IngestedTelemetry parse_telemetry_frame(std::string_view frame, size_t max_attribute_bytes);

// The same without the copy: `frame` is followed by at least kTelemetryFramePadding readable
// bytes (e.g. a std::string whose capacity is frame.size() + kTelemetryFramePadding).
IngestedTelemetry parse_padded_telemetry_frame(std::string_view frame, size_t max_attribute_bytes);

// An id as lower-case hex of `bytes` bytes: hex as OTLP/JSON specifies, or the base64 of the
// proto3 mapping. Empty when it is neither (or all zero).
std::string otlp_id_hex(std::string_view s, size_t bytes);

// A string attribute value cut to `max_bytes` (0: no cut) at a UTF-8 boundary, ending in
// "…[truncated N bytes]": `text` itself when it fits, else a view of `storage`.
std::string_view cut_attribute(std::string_view text, size_t max_bytes, std::string& storage);

}  // namespace iii::obs
