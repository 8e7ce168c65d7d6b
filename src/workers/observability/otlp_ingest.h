// Reads the telemetry frames SDK workers send (docs/protocol.md §1.8): a 4-byte prefix and
// OTLP/JSON — "OTLP" an ExportTraceServiceRequest, "LOGS" an ExportLogsServiceRequest, "MTRC" an
// ExportMetricsServiceRequest — into the records the stores keep. Lenient like collectors are:
// ids in hex (or base64, which the proto3 JSON mapping also allows), 64-bit numbers as strings or
// numbers, unknown fields ignored; a frame that is not valid JSON is an error, a record missing
// its ids is skipped.
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

// `max_attribute_bytes` cuts longer string attribute values (0: no cut).
IngestedTelemetry parse_telemetry_frame(std::string_view frame, size_t max_attribute_bytes);

}  // namespace iii::obs
