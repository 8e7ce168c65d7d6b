// The redis adapter of iii-stream, worker side (docs/redis.md "Streams on Redis"). Internal to
// src/workers/stream/.
//
// Changes travel only through Redis, this engine's own included: every write through the store
// publishes its change message on `stream::events` in the write's own script, stream::send and
// custom backends PUBLISH theirs, and each engine's one subscriber to the channel hands every
// message to its own hub. So each engine's sockets get every change once, in the order Redis
// made the writes, whichever engine made them — and the official engine, which uses the same
// channel and message, pushes to ours and ours to it.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/redis_client.h"
#include "store/redis_subscriber.h"
#include "store/stream_store.h"

namespace iii {

class StreamService;
struct StreamBackend;

class StreamRedisLink {
 public:
  static constexpr const char* kChannel = "stream::events";

  // The store and the subscriber for `url` (validated already). `deliver` gets every message on
  // the channel and `on_gap` runs when some may have been lost (RedisSubscriber), both on the
  // subscriber's thread. Never throws for an unreachable server: calls fail until it answers.
  StreamRedisLink(const std::string& url, std::function<void(std::string_view message)> deliver,
                  std::function<void()> on_gap);

  // stream:<stream>:<group> hashes; every write publishes its change (publishes_changes()).
  const std::shared_ptr<StreamStore>& store() const { return store_; }
  // Publishes a change message that no write carried (a send, a custom backend's change).
  // Throws RedisError naming the server.
  void publish(std::string_view message);
  // The same without waiting: `done` gets null once Redis took it, or the RedisError, on the
  // client's thread (or at once when the command is refused).
  void publish_async(std::string_view message, std::function<void(std::exception_ptr)> done);
  // Whether the subscription to the channel is confirmed, waiting at most `timeout`.
  bool wait_subscribed(std::chrono::milliseconds timeout) { return subscriber_.wait_subscribed(kChannel, timeout); }
  std::string address() const { return client_->address(); }

 private:
  std::shared_ptr<RedisClient> client_;  // the store's commands and publish(), pipelined
  std::shared_ptr<StreamStore> store_;
  RedisSubscriber subscriber_;
};

// The redis adapter's backend for `service`: the store, and a link whose subscriber hands every
// message to service->deliver() and calls service->resync() after a gap (holding the service
// weakly). Waits up to 1 s for Redis to confirm the subscription, so that a client joining right
// after start hears of every change; without an answer it logs a warning and goes on.
StreamBackend open_redis_backend(const std::string& url, const std::shared_ptr<StreamService>& service);

}  // namespace iii
