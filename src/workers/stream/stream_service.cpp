#include "workers/stream/stream_service.h"

#include <chrono>

#include "wire/json_writer.h"

namespace iii {

std::string stream_message(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                           std::string_view event) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  FrameWriter w(96 + stream.size() + group.size() + (id ? id->size() : 0) + event.size());
  w.string("type", "stream");
  w.number("timestamp", std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  w.string("streamName", stream);
  w.string("groupId", group);
  if (id) {
    w.string("id", *id);
  } else {
    w.raw("id", "null");
  }
  w.raw("event", event);
  return w.finish();
}

std::string stream_event(std::string_view type, std::string_view data) {
  return FrameWriter(32 + data.size()).string("type", type).raw("data", data).finish();
}

void StreamService::run_backend(std::string_view op, std::string_view stream, std::string_view request,
                                const char* error_code, const std::function<Outcome(StreamStore&)>& builtin,
                                Completion done) {
  std::string custom = "stream::";
  custom.append(op).append("(").append(stream).append(")");
  if (engine_.registry().find_function(custom)) return engine_.invoke(custom, request, "", std::move(done));
  std::shared_ptr<StreamStore> s = store();
  if (!s) return done(Outcome::failure(error_code, "the stream store is not open (iii-stream is not running)"));
  done(builtin(*s));
}

void StreamService::read_item(const std::string& stream, const std::string& group, const std::string& item,
                              std::string_view request, Completion done) {
  run_backend(
      "get", stream, request, "STREAM_GET_ERROR",
      [&](StreamStore& store) {
        std::optional<std::string> value = store.get(stream, group, item);
        return Outcome::success(value ? std::move(*value) : std::string("null"));
      },
      std::move(done));
}

void StreamService::read_group(const std::string& stream, const std::string& group, std::string_view request,
                               Completion done) {
  run_backend(
      "list", stream, request, "STREAM_GET_GROUP_ERROR",
      [&](StreamStore& store) { return Outcome::success(json_raw_array(store.list(stream, group))); }, std::move(done));
}

void StreamService::publish(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                            std::string_view event, std::string traceparent) {
  std::string message = stream_message(stream, group, id, event);
  hub_.broadcast(stream, group, id, message);
  triggers_.fire_change(stream, group, id, std::move(message), std::move(traceparent));
}

}  // namespace iii
