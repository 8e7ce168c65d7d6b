#include "workers/redis_adapter.h"

#include <spdlog/spdlog.h>

namespace iii {
namespace {

// Logs whether the server answers a PING through `link` (a pool or a client).
template <class Link>
std::shared_ptr<Link> checked(std::shared_ptr<Link> link, std::string_view worker, std::string_view what_fails) {
  try {
    link->run({"PING"});
    spdlog::info("{}: redis store {}", worker, link->endpoint().address());
  } catch (const RedisError& e) {
    spdlog::warn("{}: {} ({} until it answers)", worker, e.what(), what_fails);
  }
  return link;
}

}  // namespace

std::shared_ptr<RedisPool> open_redis_adapter_pool(std::string_view worker, const std::string& url,
                                                   std::string_view what_fails) {
  return checked(std::make_shared<RedisPool>(RedisEndpoint::parse(url)), worker, what_fails);
}

std::shared_ptr<RedisClient> open_redis_adapter_client(std::string_view worker, const std::string& url,
                                                       std::string_view what_fails, RedisClientOptions options) {
  return checked(std::make_shared<RedisClient>(RedisEndpoint::parse(url), std::move(options)), worker, what_fails);
}

}  // namespace iii
