// What the iii-stream functions, its trigger types and its client socket share: the config (hot
// reload swaps it), the store (open between start() and stop(), swapped when the adapter
// changes; with the redis adapter, together with its link to Redis), the subscriptions, the
// trigger bindings, and the two things every change goes through: the backend (a custom
// `stream::<op>(<stream>)` function or the store) and publish(). Internal to src/workers/stream/.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "store/stream_store.h"
#include "workers/builtin.h"
#include "workers/stream/stream_config.h"
#include "workers/stream/stream_hub.h"
#include "workers/stream/stream_triggers.h"

namespace iii {

class StreamRedisLink;
class StreamBridgeLink;
class RemoteEngine;

// What open() swaps in: the store, and with the redis adapter the link that carries every
// change through Redis to the hub of every engine (stream_redis.h).
struct StreamBackend {
  std::shared_ptr<StreamStore> store{};
  std::shared_ptr<StreamRedisLink> redis{};  // null: changes go straight to this engine's hub
  // The bridge adapter (store null): every operation is the same stream::* call on the remote
  // engine, whose `stream` triggers bring the changes to this engine's hub (stream_bridge.h).
  std::shared_ptr<StreamBridgeLink> bridge{};
};

class StreamService : public std::enable_shared_from_this<StreamService> {
 public:
  StreamService(Engine& engine, StreamConfig config)
      : engine_(engine), config_(std::make_shared<const StreamConfig>(std::move(config))), triggers_(engine) {}

  Engine& engine() { return engine_; }
  StreamHub& hub() { return hub_; }
  StreamTriggers& triggers() { return triggers_; }

  std::shared_ptr<const StreamConfig> config() const { return config_.get(); }
  void set_config(StreamConfig config) { config_.set(std::make_shared<const StreamConfig>(std::move(config))); }

  // The open store, or null when the worker is not running (see SharedSlot).
  std::shared_ptr<StreamStore> store() const {
    const auto b = backend_.get();
    return b ? b->store : nullptr;
  }
  void open(StreamBackend backend) { backend_.set(std::make_shared<const StreamBackend>(std::move(backend))); }
  void close() { backend_.set(nullptr); }
  // With the bridge adapter, the engine every operation runs on; else null.
  std::shared_ptr<RemoteEngine> remote() const;
  // With the bridge adapter, makes sure the changes of `stream` reach this engine's hub (before a
  // join reads its sync); else nothing.
  void watch_remote(const std::string& stream);
  // With the bridge adapter, whether the remote's `stream` trigger brings the changes of `stream`
  // to the hub (then a change made through this engine is not broadcast here a second time).
  bool remote_announces(const std::string& stream) const;
  // Whether changes reach the sockets through Redis (the redis adapter is open).
  bool changes_through_redis() const {
    const auto b = backend_.get();
    return b && b->redis;
  }

  // Runs operation `op` ("get", "set", …) of `stream`: the function `stream::<op>(<stream>)` with
  // `request` when one is registered (a custom backend, docs/builtins.md §6.2), else with the
  // bridge adapter `stream::<op>` on the remote engine, else `builtin(store, done)`, which starts
  // the store's asynchronous operation and answers `done` from its completion. `done` gets the
  // outcome, now or later, on any thread. A closed store answers `error_code`. Returns which ran.
  enum class Served { kCustom, kRemote, kStore };
  using Builtin = std::function<void(StreamStore&, Completion)>;
  Served run_backend(std::string_view op, std::string_view stream, std::string_view request, const char* error_code,
                     const Builtin& builtin, Completion done);

  // What stream::get and stream::list answer (the item or null; the group's values as one JSON
  // array), through the backend; `request` is what a custom backend receives. Used by those
  // functions and by the sync message of a client join. A store failure answers the function's
  // error code (store_failure).
  void read_item(const std::string& stream, const std::string& group, const std::string& item,
                 std::string_view request, Completion done);
  void read_group(const std::string& stream, const std::string& group, std::string_view request, Completion done);

  // Announces a change to the subscribed sockets and the `stream` triggers. `event` is the raw
  // JSON of the inner event ({"type":"create","data":…}); the triggers continue `traceparent`.
  // The sockets get it from this engine's hub, or with the redis adapter through Redis (every
  // engine's hub); `announced`: the store published it already (StreamStore::publishes_changes),
  // only the triggers remain. Throws RedisError when Redis cannot take it (triggers not fired).
  void publish(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
               std::string_view event, std::string traceparent = {}, bool announced = false);
  // publish() without waiting for Redis: `done` gets null once the change went out (the triggers
  // fired), or the RedisError when Redis did not take it (nothing fired), on any thread. Keeps
  // the service alive until Redis answers. Without Redis it is publish(), answered at once.
  void publish_async(std::string stream, std::string group, std::optional<std::string> id, std::string event,
                     std::string traceparent, std::function<void(std::exception_ptr)> done);

  // A change message that came through Redis (any engine's, this one's included): to the
  // subscriptions it matches. A message that is not one is ignored.
  void deliver(std::string_view message);
  // Changes may have been lost on the way from Redis or from the bridged engine (a reconnect):
  // every subscribed socket is closed, so that its client joins again and gets a fresh sync.
  void resync();

 private:
  Engine& engine_;
  SharedSlot<const StreamConfig> config_;
  SharedSlot<const StreamBackend> backend_;
  StreamHub hub_;
  StreamTriggers triggers_;
};

// The answer of `function_id` whose store operation failed with `error` (a KvStoreError and the
// like): `error_code`, "Failed to run <function_id>: <what>".
Outcome store_failure(const char* error_code, std::string_view function_id, std::exception_ptr error);

// The change message of docs/builtins.md §6.3:
// {"type":"stream","timestamp":<unix ms>,"streamName":…,"groupId":…,"id":…|null,"event":<event>}
std::string stream_message(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                           std::string_view event);
// Its text up to the event, to be completed with <event> + "}" (the Redis store's scripts do).
std::string stream_message_head(std::string_view stream, std::string_view group, const std::optional<std::string>& id);

// {"type":<type>,"data":<data>} (data raw JSON).
std::string stream_event(std::string_view type, std::string_view data);

// Registers the stream::* functions on `worker`.
void add_stream_functions(InProcessWorker& worker, const std::shared_ptr<StreamService>& service);

}  // namespace iii
