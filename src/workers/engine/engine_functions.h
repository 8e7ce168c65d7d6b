// The `iii-engine-functions` built-in worker (docs/protocol.md §4, docs/builtins.md §7.1): the engine::*
// functions that let a worker describe itself (engine::workers::register), look at everything
// the engine knows (functions, workers, trigger types, bindings), bind triggers on the engine's
// behalf, and the two trigger types engine::workers-available and engine::functions-available.
//
// Usage: engine.add_in_process_worker(make_engine_functions_worker(engine));
// The worker subscribes to the engine's worker events and registers a ticker, so the engine must
// outlive it (it does: the engine owns its in-process workers).
#pragma once
#include <memory>

#include "engine/engine.h"
#include "engine/in_process_worker.h"

namespace iii {

inline constexpr const char* kEngineFunctionsWorkerName = "iii-engine-functions";

std::shared_ptr<InProcessWorker> make_engine_functions_worker(Engine& engine);

}  // namespace iii
