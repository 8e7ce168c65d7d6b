#include "workers/redis_adapter.h"

#include <spdlog/spdlog.h>

namespace iii {

std::shared_ptr<RedisPool> open_redis_adapter_pool(std::string_view worker, const std::string& url,
                                                   std::string_view what_fails) {
  auto pool = std::make_shared<RedisPool>(RedisEndpoint::parse(url));
  try {
    pool->run({"PING"});
    spdlog::info("{}: redis store {}", worker, pool->endpoint().address());
  } catch (const RedisError& e) {
    spdlog::warn("{}: {} ({} until it answers)", worker, e.what(), what_fails);
  }
  return pool;
}

}  // namespace iii
