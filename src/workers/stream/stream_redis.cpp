#include "workers/stream/stream_redis.h"

#include <spdlog/spdlog.h>

#include "store/kv_stream_store.h"
#include "workers/redis_adapter.h"
#include "workers/stream/stream_service.h"

namespace iii {
namespace {

constexpr auto kSubscribeWait = std::chrono::milliseconds(1000);

// A write's change message, which the store's script completes with the kind and the value:
// {"type":"stream",…,"event":{"type":"<kind>","data":<value>}}, as stream_message() builds it.
RedisChangeText change_text(std::string_view stream, std::string_view group, std::string_view item) {
  return RedisChangeText{stream_message_head(stream, group, std::string(item)) + R"({"type":")", R"(","data":)", "}}"};
}

}  // namespace

StreamRedisLink::StreamRedisLink(const std::string& url, std::function<void(std::string_view message)> deliver,
                                 std::function<void()> on_gap)
    : client_(open_redis_adapter_client("iii-stream", url, "stream calls fail")),
      store_(open_redis_stream_store(client_, StreamChangeFeed{kChannel, change_text})),
      subscriber_(client_->endpoint(),
                  [deliver = std::move(deliver)](std::string_view, std::string_view message) { deliver(message); },
                  std::move(on_gap)) {
  subscriber_.subscribe(kChannel);
}

void StreamRedisLink::publish(std::string_view message) {
  const RedisReply r = client_->run({"PUBLISH", kChannel, message});
  if (r.is_error()) throw RedisError("redis " + address() + ": " + r.str);
}

void StreamRedisLink::publish_async(std::string_view message, std::function<void(std::exception_ptr)> done) {
  client_->command({"PUBLISH", kChannel, message},
                   failing_on_error_reply(address(), [done = std::move(done)](std::exception_ptr e, RedisReply) { done(e); }));
}

StreamBackend open_redis_backend(const std::string& url, const std::shared_ptr<StreamService>& service) {
  const std::weak_ptr<StreamService> weak = service;
  auto link = std::make_shared<StreamRedisLink>(
      url,
      [weak](std::string_view message) {
        if (auto s = weak.lock()) s->deliver(message);
      },
      [weak] {
        if (auto s = weak.lock()) s->resync();
      });
  if (!link->wait_subscribed(kSubscribeWait))
    spdlog::warn("iii-stream: redis {} did not confirm the subscription to {} yet (client sockets get no changes until it does)",
                 link->address(), StreamRedisLink::kChannel);
  return StreamBackend{.store = link->store(), .redis = std::move(link)};
}

}  // namespace iii
