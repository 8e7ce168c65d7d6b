// The page GET /metrics answers (docs/observability.md "Prometheus"): the engine's counters in the
// Prometheus text format — invocations by function and status, their latency histograms, deferred
// calls, workers, queue depths and dead letters, state and stream operations, and what telemetry
// was dropped.
#pragma once
#include <functional>
#include <string>

#include "engine/engine.h"
#include "workers/observability/telemetry_hub.h"

namespace iii::obs {

// Telemetry dropped outside the hub (the archive's queue, the exporter's buffers), by kind.
struct DroppedTelemetry {
  uint64_t archive_spans = 0, export_spans = 0, export_logs = 0, export_metrics = 0;
};

std::string render_prometheus(TelemetryHub& hub, Engine& engine, const DroppedTelemetry& dropped);

}  // namespace iii::obs
