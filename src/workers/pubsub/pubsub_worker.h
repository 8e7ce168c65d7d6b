// The `iii-pubsub` built-in (alias `pubsub`; docs/builtins.md §5): fire-and-forget broadcast with no
// persistence and no retries.
//
//   function `publish` (no prefix)  {"topic": str, "data": any} → null
//                                   empty topic → topic_not_set; publishing to a topic nobody
//                                   subscribes to is a no-op
//   trigger type `subscribe`        config {"topic": str, "condition_function_id"?: str};
//                                   the handler gets the raw `data`
//
// The caller of `publish` gets its answer before the fan-out starts (pubsub_topics.h); on the
// redis adapter, once Redis accepted the PUBLISH (an unreachable Redis is the error
// `publish_failed`).
//
// Config block: pubsub_config.h. Usage: the config loader creates it from pubsub_builtin() like
// every built-in.
#pragma once
#include <boost/json/value.hpp>

#include <functional>
#include <memory>
#include <string>

#include "workers/builtin.h"

namespace iii {

inline constexpr const char* kPubSubWorkerName = "iii-pubsub";

class PubSubTopics;

// Publishes to every engine (the redis adapter); throws std::runtime_error when it cannot.
using RemotePublish = std::function<void(const std::string& topic, const std::string& data)>;

// Adds `publish` (pubsub_functions.cpp) to the worker; `topics` is held weakly. With `remote`,
// publish goes through it instead of straight to `topics`.
void add_pubsub_functions(InProcessWorker& worker, const std::shared_ptr<PubSubTopics>& topics,
                          RemotePublish remote = {});

// name "iii-pubsub", alias "pubsub".
BuiltinDescriptor pubsub_builtin();

}  // namespace iii
