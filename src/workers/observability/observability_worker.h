// The `iii-observability` built-in (docs/observability.md): spans of every routed call, the SDKs'
// telemetry from /otel, logs, engine metrics, the functions and trigger types that query them,
// alerts, the trace archive on disk, OTLP export and the Prometheus endpoint. It always runs: a
// config without the entry gets one with every default (config/engine_config.cpp).
//
// start() installs the engine's invocation observer and a timer (drains spans every tick, expires
// logs and metrics every second, evaluates alerts every 10 s, fires the debounced `trace` trigger);
// stop() retires both. A changed block replaces the worker (what is in memory starts over; the
// archive on disk stays).
#pragma once
#include "wire/asio_fwd.h"
#include "workers/builtin.h"

namespace iii {

inline constexpr const char* kObservabilityWorkerName = "iii-observability";

// name "iii-observability", alias "observability".
BuiltinDescriptor observability_builtin(boost::asio::io_context& io);

}  // namespace iii
