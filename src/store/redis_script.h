// A Lua script run on a Redis server with EVALSHA (EVAL the first time a server sees it), so that
// a store's multi-key change is one atomic step (docs/redis.md).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/redis_client.h"
#include "store/redis_connection.h"

namespace iii {

// A script and its SHA-1 (hex), for EVALSHA.
struct RedisScript {
  explicit RedisScript(std::string text);
  std::string body, sha;
};

// Runs `script` with KEYS `keys` and ARGV `args` on a connection of `pool`. Throws RedisError when
// the server cannot be reached or answers an error ("redis <host:port>: <the server's message>").
RedisReply run_script(RedisPool& pool, const RedisScript& script, const std::vector<std::string_view>& keys,
                      const std::vector<std::string_view>& args);

// The same on the pipelining client: `done` gets the reply, or a RedisError (the server's error
// reply among them). Keys and args are needed only until the call returns; `script` lives as
// long as the process (the stores' scripts are constants).
void run_script_async(const std::shared_ptr<RedisClient>& client, const RedisScript& script, const std::vector<std::string_view>& keys,
                      const std::vector<std::string_view>& args, RedisCallback done);

}  // namespace iii
