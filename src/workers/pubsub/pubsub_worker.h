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
// Config block:
//   adapter:          # default {name: local}
//     name: local     # in-process topics; `redis` is not supported yet
//
// Usage: the config loader creates it from pubsub_builtin() like every built-in.
#pragma once
#include <boost/json/value.hpp>

#include <memory>

#include "workers/builtin.h"

namespace iii {

inline constexpr const char* kPubSubWorkerName = "iii-pubsub";

// Validates a config block (null = defaults); throws BuiltinConfigError naming the key.
void parse_pubsub_config(const boost::json::value& config);

// name "iii-pubsub", alias "pubsub".
BuiltinDescriptor pubsub_builtin();

}  // namespace iii
