// The `config:` block of the iii-pubsub built-in (docs/builtins.md §5):
//
//   adapter:          # default {name: local}
//     name: local     # in-process topics (no options)
//   # or: adapter: { name: redis, config: { redis_url: redis://localhost:6379 } }
//
// With redis, a publish is a Redis PUBLISH on a channel named like the topic (payload: the JSON
// of `data`, the official engine's layout), and every engine delivers what its channel
// subscriptions receive to its own subscribers (docs/redis.md "Pub/sub").
#pragma once
#include <boost/json/value.hpp>

#include <string>

namespace iii {

struct PubSubConfig {
  std::string redis_url;  // empty: local
};

// Reads a config block (null = defaults); throws BuiltinConfigError naming the key.
PubSubConfig parse_pubsub_config(const boost::json::value& config);

}  // namespace iii
