// The engine's InvocationObserver while iii-observability runs (docs/observability.md "Spans"):
// every routed call is counted (EngineMetrics) and, when sampled, recorded as a span named
// "call <function id>" that continues the caller's trace context and becomes the parent the
// callee sees. Telemetry frames from workers are parsed and stored here too.
#pragma once
#include <memory>

#include "engine/invocation_observer.h"
#include "workers/observability/telemetry_hub.h"

namespace iii::obs {

class CallTracer final : public InvocationObserver {
 public:
  explicit CallTracer(std::shared_ptr<TelemetryHub> hub) : hub_(std::move(hub)) {}

  std::shared_ptr<CallObservation> begin(const CallStart& call) override;
  void deferred(std::string_view function_id) override;
  void telemetry(std::string_view worker_id, std::string_view frame) override;

  // Retired by a reload or a stop: calls in flight still finish, new ones are not observed.
  void retire() { retired_.store(true, std::memory_order_release); }
  bool retired() const { return retired_.load(std::memory_order_acquire); }

 private:
  const std::shared_ptr<TelemetryHub> hub_;
  std::atomic<bool> retired_{false};
};

}  // namespace iii::obs
