// The `iii-cron` built-in (alias `cron`; docs/builtins.md §4): the `cron` trigger type, which fires a
// function on a schedule given as a cron expression with seconds (cron_expression.h), in UTC.
// It has no public functions.
//
// Scheduling runs on the engine's ticker between start() and stop(); bindings may be activated
// before start() (the engine delivers parked bindings when the worker is added) and fire from the
// first tick after it. See cron_scheduler.h for the firing guarantees.
//
// Usage: the config loader creates it from cron_builtin() like every built-in.
#pragma once
#include <memory>

#include "workers/builtin.h"
#include "workers/cron/cron_config.h"
#include "workers/cron/cron_scheduler.h"

namespace iii {

inline constexpr const char* kCronWorkerName = "iii-cron";

// name "iii-cron", alias "cron"; the factory parses the block (cron_config.h).
BuiltinDescriptor cron_builtin();

// A cron worker reading UTC time from `wall_clock` (tests move it by hand and drive ticks with
// Engine::tick).
std::unique_ptr<BuiltinWorker> make_cron_worker(Engine& engine, CronConfig config, WallClock wall_clock);

}  // namespace iii
