// iii-queue on the `bridge` adapter (docs/builtins.md §10.3): the queues are another engine's.
// Internal to src/workers/queue/.
//
// Nothing is stored here. Every iii-queue function runs as the same call on the remote engine,
// so its retries, dead-letter queue and redrive are the remote's, and an enqueue is acknowledged
// only once the remote took it (while the remote is unreachable it fails at once with
// bridge_error: nothing is accepted and then lost). What must run here runs through functions
// this engine's connection exposes there:
//  - a job of a named queue whose function is registered on this engine is enqueued there for
//    `queue::bridge::<tag>::<function>`, which runs the function here (a function this engine
//    does not have is enqueued under its own id, for the remote's workers);
//  - the durable:subscriber bindings made here of one function to one topic become one there,
//    bound to `queue::bridge::<tag>::on_message::<topic>::<function>`, which fires one of them here
//    (its condition function evaluated here); an error answer makes the remote retry it.
// <tag> names this engine, the same after a restart (host, working directory, instance), so that
// jobs and subscriber queues left there while this engine was away are delivered when it is back
// (jobs that failed meanwhile are in the remote's DLQ, to redrive).
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "workers/builtin.h"

namespace iii {

std::unique_ptr<BuiltinWorker> make_bridged_queue_worker(Engine& engine, const std::string& bridge_url,
                                                        const std::filesystem::path& working_dir,
                                                        const std::string& instance_id);

}  // namespace iii
