// The `iii-pubsub` built-in (alias `pubsub`; docs/builtins.md §5): fire-and-forget broadcast with no
// persistence and no retries.
//
//   function `publish` (no prefix)  {"topic": str, "data": any} → null
//                                   empty topic → topic_not_set; publishing to a topic nobody
//                                   subscribes to is a no-op
//   trigger type `subscribe`        config {"topic": str, "condition_function_id"?: str};
//                                   the handler gets the raw `data`
//
// The caller of `publish` gets its answer before the fan-out starts (pubsub_topics.h).
//
// Config block: pubsub_config.h. Usage: the config loader creates it from pubsub_builtin() like
// every built-in.
#pragma once
#include <boost/json/value.hpp>

#include <memory>

#include "workers/builtin.h"

namespace iii {

inline constexpr const char* kPubSubWorkerName = "iii-pubsub";

class PubSubTopics;

// Adds `publish` (pubsub_functions.cpp) to the worker; `topics` is held weakly.
void add_pubsub_functions(InProcessWorker& worker, const std::shared_ptr<PubSubTopics>& topics);

// name "iii-pubsub", alias "pubsub".
BuiltinDescriptor pubsub_builtin();

}  // namespace iii
