// The functions of iii-observability (docs/observability.md "Functions"): engine::log::*,
// engine::logs::*, engine::traces::*, engine::metrics::list, engine::rollups::list,
// engine::sampling::rules, engine::health::check, engine::alerts::*, engine::baggage::*.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "engine/in_process_worker.h"
#include "workers/observability/alerts.h"
#include "workers/observability/telemetry_hub.h"

namespace iii::obs {

// What the functions read besides the hub.
struct ObservabilityFunctionContext {
  std::shared_ptr<TelemetryHub> hub;
  std::shared_ptr<Alerts> alerts;
  const Engine* engine = nullptr;
  // Extra "storage" facts for engine::traces::* (the archive's), as a JSON object; may be empty.
  std::function<std::string()> storage_json;
  // Spans of one trace kept on disk (the archive), for engine::traces::tree of an older trace.
  std::function<std::vector<StoredSpan>(std::string_view trace_id)> archived_trace;
  // Health of the exporters etc. as extra components ("name": {...}); may be empty.
  std::function<std::string()> extra_components_json;
};

void add_observability_functions(InProcessWorker& worker, std::shared_ptr<const ObservabilityFunctionContext> context);

}  // namespace iii::obs
