// The engine's InvocationObserver while iii-observability runs (docs/observability.md "Spans"):
// every routed call is counted (EngineMetrics) and, when sampled, recorded as a span named
// "call <function id>" that continues the caller's trace context and becomes the parent the
// callee sees. Telemetry frames from workers are handed to a TelemetryIngest, which reads them
// off the event loops.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>

#include "engine/invocation_observer.h"
#include "workers/observability/telemetry_hub.h"
#include "workers/observability/telemetry_ingest.h"

namespace iii::obs {

class CallTracer final : public InvocationObserver {
 public:
  explicit CallTracer(std::shared_ptr<TelemetryHub> hub) : hub_(std::move(hub)) {}

  std::shared_ptr<CallObservation> begin(const CallStart& call) override;
  void deferred(std::string_view function_id) override;
  void telemetry(std::string_view worker_id, std::string_view frame) override;

  // Retired by a reload or a stop: calls in flight still finish, new ones are not observed;
  // telemetry frames already queued are ingested before it returns.
  void retire();
  bool retired() const { return retired_.load(std::memory_order_acquire); }
  // Returns once the telemetry frames received so far are in the hub.
  void flush_telemetry();

 private:
  TelemetryIngest* ingest();

  const std::shared_ptr<TelemetryHub> hub_;
  std::atomic<bool> retired_{false};
  std::mutex ingest_mu_;
  std::unique_ptr<TelemetryIngest> ingest_;  // made on the first frame
  std::atomic<TelemetryIngest*> ingest_ptr_{nullptr};
};

}  // namespace iii::obs
