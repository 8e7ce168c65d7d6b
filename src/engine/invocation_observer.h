// The seam through which iii-observability sees every routed invocation and the telemetry frames
// workers send (docs/observability.md). The engine calls it on its hot path, so an observer must
// be quick and never block: record, count, hand off.
#pragma once
#include <array>
#include <memory>
#include <string_view>

#include "core/error_body.h"
#include "core/invocation_table.h"  // CallObservation

namespace iii {

// What made an engine-originated call, and the trace context it continues.
struct CallContext {
  std::string_view trigger_type;  // "http", "cron", "queue", "state", …; empty = a direct call
  std::string_view traceparent;   // W3C traceparent to continue; empty = none
  std::string_view baggage;       // W3C baggage; empty = none
  // A call another engine forwarded (iii-cluster): it runs on this engine's own workers or not at
  // all (function_not_found), never forwarded on, so calls cannot loop between engines.
  bool local_only = false;
  // A query the engine makes for a tool of its own (the console's pages, docs/builtins.md §15.4):
  // the observer does not see it, so it is neither a span nor counted in the call metrics.
  bool unobserved = false;
};

// One call as routing sees it, before delivery.
struct CallStart {
  std::string_view invocation_id;
  std::string_view function_id;
  std::string_view callee_worker_id;
  std::string_view caller_worker_id;  // empty for engine-originated calls
  std::string_view trigger_type;      // empty for a worker's direct call
  std::string_view traceparent;       // the caller's, empty = none
  // invocation_id's 16 bytes when the engine made the id (null: read them from the text).
  const std::array<unsigned char, 16>* invocation_id_bytes = nullptr;
};

class InvocationObserver {
 public:
  virtual ~InvocationObserver() = default;
  // Called on the routing thread before delivery; null when the call is not observed.
  virtual std::shared_ptr<CallObservation> begin(const CallStart& call) = 0;
  // A call handed to the queue provider (an Enqueue action) for `function_id`.
  virtual void deferred(std::string_view function_id) = 0;
  // A binary telemetry frame ("OTLP", "MTRC" or "LOGS" + OTLP JSON) from worker `worker_id` (the
  // /otel socket's own id when it came on /otel).
  virtual void telemetry(std::string_view worker_id, std::string_view frame) = 0;
};

}  // namespace iii
