// The Redis connections behind a built-in's `redis` adapter (docs/redis.md).
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "store/redis_client.h"
#include "store/redis_connection.h"

namespace iii {

// A pool for `url` (already validated by ConfigReader::redis_url). Checks the server once with a
// PING and logs the outcome as `worker`: the address when it answers, otherwise a warning that
// `what_fails` (e.g. "state calls fail") until it does. Never throws for an unreachable server:
// every store reconnects on its next call.
std::shared_ptr<RedisPool> open_redis_adapter_pool(std::string_view worker, const std::string& url,
                                                   std::string_view what_fails);

// The same with the pipelining client (store/redis_client.h), which reconnects by itself; for the
// state and stream stores.
std::shared_ptr<RedisClient> open_redis_adapter_client(std::string_view worker, const std::string& url,
                                                       std::string_view what_fails, RedisClientOptions options = {});

}  // namespace iii
