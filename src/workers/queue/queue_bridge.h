// iii-queue on the `bridge` adapter (docs/builtins.md §10.3): the queues are another engine's.
// Internal to src/workers/queue/.
//
// Nothing is stored here. Every iii-queue function runs as the same call on the remote engine,
// so its retries, dead-letter queue and redrive are the remote's, and an enqueue is acknowledged
// only once the remote took it (while the remote is unreachable it fails at once with
// bridge_error: nothing is accepted and then lost). What must run here runs through functions
// this engine's connection exposes there:
//  - a job of a named queue whose function is registered on this engine is enqueued there for
//    `queue::bridge::<uuid>::<function>`, which runs the function here (a function this engine
//    does not have is enqueued under its own id, for the remote's workers);
//  - a durable:subscriber binding made here becomes one there, bound to
//    `queue::bridge::<uuid>::on_message::<binding id>`, which fires the binding here (its
//    condition function evaluated here); an error answer makes the remote retry it.
#pragma once
#include <memory>
#include <string>

#include "workers/builtin.h"

namespace iii {

std::unique_ptr<BuiltinWorker> make_bridged_queue_worker(Engine& engine, const std::string& bridge_url);

}  // namespace iii
