// The trigger types of iii-observability (docs/observability.md "Triggers"):
//  * `log`   — config {level: all | trace | debug | info | warn | error}; fires once per stored log
//              entry of that level with the entry (the engine::logs::list shape);
//  * `trace` — config {service_name?, status?}; a debounced (~300 ms) "traces changed" tick with
//              {"trace_ids": [...]}, never for the spans of its own deliveries.
// Each delivery runs in a trace of its own that the triggers remember (a bounded set), so a log
// written by a `log` handler does not fire the `log` trigger again, and a `trace` handler's spans do
// not tick the `trace` trigger: neither can feed itself forever.
#pragma once
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>

#include "engine/engine.h"
#include "workers/observability/telemetry_hub.h"
#include "workers/trigger_bindings.h"

namespace iii::obs {

class ObservabilityTriggers : public std::enable_shared_from_this<ObservabilityTriggers> {
 public:
  static constexpr auto kDebounce = std::chrono::milliseconds(300);
  static constexpr size_t kMaxTraceIdsPerTick = 1000;

  explicit ObservabilityTriggers(Engine& engine) : engine_(engine) {}

  std::optional<ErrorBody> activate(const TriggerBinding& binding);
  void deactivate(const TriggerBinding& binding);

  // Sinks the hub calls.
  void on_log(const LogPtr& log);
  void on_spans(const std::vector<StoredSpan>& spans);
  // Fires the `trace` bindings whose window is over (called by the worker's timer).
  void tick(std::chrono::steady_clock::time_point now);

 private:
  struct LogBinding {
    TriggerBinding binding;
    std::string condition_function_id;
    std::string level;  // "" = all
  };
  struct TraceBinding {
    TriggerBinding binding;
    std::string condition_function_id;
    std::optional<std::string> service_name, status;  // lower-case
    std::vector<std::string> trace_ids;                // affected since the last tick
    std::optional<std::chrono::steady_clock::time_point> first_activity;
  };

  // A fresh trace context for one delivery, remembered as our own.
  std::string own_traceparent();
  bool is_own_trace(std::string_view trace_id) const;

  Engine& engine_;
  BindingList<LogBinding> log_bindings_;
  mutable std::mutex mu_;  // trace bindings and own traces
  std::vector<TraceBinding> trace_bindings_;
  std::deque<std::string> own_order_;
  std::unordered_set<std::string> own_traces_;
};

}  // namespace iii::obs
