#include "workers/stream/stream_service.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "core/json_text.h"
#include "wire/json_writer.h"
#include "workers/bridge/remote_engine.h"
#include "workers/stream/stream_bridge.h"
#include "workers/stream/stream_redis.h"

namespace iii {

std::string stream_message_head(std::string_view stream, std::string_view group, const std::optional<std::string>& id) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  FrameWriter w(96 + stream.size() + group.size() + (id ? id->size() : 0));
  w.string("type", "stream");
  w.number("timestamp", std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  w.string("streamName", stream);
  w.string("groupId", group);
  if (id) {
    w.string("id", *id);
  } else {
    w.raw("id", "null");
  }
  std::string head = w.raw("event", "").finish();
  head.pop_back();  // the object's closing brace: the event comes first
  return head;
}

std::string stream_message(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                           std::string_view event) {
  std::string message = stream_message_head(stream, group, id);
  message.reserve(message.size() + event.size() + 1);
  message.append(event).push_back('}');
  return message;
}

std::string stream_event(std::string_view type, std::string_view data) {
  return FrameWriter(32 + data.size()).string("type", type).raw("data", data).finish();
}

Outcome store_failure(const char* error_code, std::string_view function_id, std::exception_ptr error) {
  std::string message = "Failed to run " + std::string(function_id) + ": ";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    message += e.what();
  } catch (...) {
    message += "unknown error";
  }
  return Outcome::failure(error_code, std::move(message));
}

StreamService::Served StreamService::run_backend(std::string_view op, std::string_view stream, std::string_view request,
                                                 const char* error_code, const Builtin& builtin, Completion done) {
  std::string custom = "stream::";
  custom.append(op).append("(").append(stream).append(")");
  if (engine_.registry().find_function(custom)) {
    engine_.invoke(custom, request, "", std::move(done));
    return Served::kCustom;
  }
  if (std::shared_ptr<RemoteEngine> r = remote()) {
    r->call("stream::" + std::string(op), request, kBridgeCallTimeout, std::move(done));
    return Served::kRemote;
  }
  std::shared_ptr<StreamStore> s = store();
  if (!s) {
    done(Outcome::failure(error_code, "the stream store is not open (iii-stream is not running)"));
  } else {
    builtin(*s, std::move(done));
  }
  return Served::kStore;
}

std::shared_ptr<RemoteEngine> StreamService::remote() const {
  const auto b = backend_.get();
  return b && b->bridge ? b->bridge->remote() : nullptr;
}

void StreamService::watch_remote(const std::string& stream) {
  if (const auto b = backend_.get(); b && b->bridge) b->bridge->watch(stream);
}

bool StreamService::remote_announces(const std::string& stream) const {
  const auto b = backend_.get();
  return b && b->bridge && b->bridge->watching(stream);
}

void StreamService::read_item(const std::string& stream, const std::string& group, const std::string& item,
                              std::string_view request, Completion done) {
  run_backend(
      "get", stream, request, "STREAM_GET_ERROR",
      [&](StreamStore& store, Completion answer) {
        store.get_async(stream, group, item,
                        [answer = std::move(answer)](std::exception_ptr e, std::optional<std::string> value) {
                          if (e) return answer(store_failure("STREAM_GET_ERROR", "stream::get", e));
                          answer(Outcome::success(value ? std::move(*value) : std::string("null")));
                        });
      },
      std::move(done));
}

void StreamService::read_group(const std::string& stream, const std::string& group, std::string_view request,
                               Completion done) {
  run_backend(
      "list", stream, request, "STREAM_GET_GROUP_ERROR",
      [&](StreamStore& store, Completion answer) {
        store.list_async(stream, group, [answer = std::move(answer)](std::exception_ptr e, std::vector<std::string> values) {
          if (e) return answer(store_failure("STREAM_GET_GROUP_ERROR", "stream::list", e));
          answer(Outcome::success(json_raw_array(values)));
        });
      },
      std::move(done));
}

void StreamService::publish(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                            std::string_view event, std::string traceparent, bool announced) {
  std::string message = stream_message(stream, group, id, event);
  if (!announced) {
    const std::shared_ptr<const StreamBackend> backend = backend_.get();
    if (backend && backend->redis) {
      backend->redis->publish(message);  // back to this engine's hub through its subscriber
    } else {
      hub_.broadcast(stream, group, id, message);
    }
  }
  triggers_.fire_change(stream, group, id, std::move(message), std::move(traceparent));
}

void StreamService::publish_async(std::string stream, std::string group, std::optional<std::string> id,
                                  std::string event, std::string traceparent,
                                  std::function<void(std::exception_ptr)> done) {
  const std::shared_ptr<const StreamBackend> backend = backend_.get();
  if (!backend || !backend->redis) {
    publish(stream, group, id, event, std::move(traceparent));
    return done(nullptr);
  }
  std::string message = stream_message(stream, group, id, event);
  backend->redis->publish_async(message, [self = shared_from_this(), stream = std::move(stream), group = std::move(group),
                                          id = std::move(id), message, traceparent = std::move(traceparent),
                                          done = std::move(done)](std::exception_ptr e) mutable {
    if (!e) self->triggers_.fire_change(stream, group, id, std::move(message), std::move(traceparent));
    done(e);
  });
}

void StreamService::deliver(std::string_view message) {
  // Only the address is read: the message goes to the sockets as it came.
  const std::optional<boost::json::value> v = json_text::parse(message);
  const boost::json::object* o = v ? v->if_object() : nullptr;
  const boost::json::value* stream = o ? o->if_contains("streamName") : nullptr;
  const boost::json::value* group = o ? o->if_contains("groupId") : nullptr;
  if (!stream || !stream->is_string() || !group || !group->is_string()) {
    spdlog::debug("iii-stream: ignored a message on redis that is not a change: {:.200}", message);
    return;
  }
  std::optional<std::string> id;
  if (const boost::json::value* i = o->if_contains("id"); i && i->is_string()) id = std::string(i->get_string());
  hub_.broadcast(stream->get_string(), group->get_string(), id, message);
}

void StreamService::resync() {
  const char* from = changes_through_redis() ? "redis" : "the bridged engine";
  if (const size_t n = hub_.close_all(1012, std::string("changes were lost while ") + from + " was unreachable: join again"))
    spdlog::warn("iii-stream: closed {} client socket(s) after losing changes from {}, so that they join again", n, from);
}

}  // namespace iii
