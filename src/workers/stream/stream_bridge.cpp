#include "workers/stream/stream_bridge.h"

#include <spdlog/spdlog.h>

#include "wire/json_writer.h"
#include "wire/uuid.h"
#include "workers/bridge/remote_engine.h"
#include "workers/stream/stream_service.h"

namespace iii {

StreamBridgeLink::StreamBridgeLink(const std::string& url, const std::weak_ptr<StreamService>& service)
    // One handler thread: the changes reach the hub in the order the remote sent them. After a
    // reconnect the sockets may have missed changes: closed (1012), so that their clients join
    // again and read a fresh sync (the bindings are replayed by the connection itself).
    : remote_(std::make_shared<RemoteEngine>(url, "iii-stream", 1,
                                             [service] {
                                               if (auto s = service.lock()) s->resync();
                                             })),
      handler_id_("stream::bridge::on_change::" + new_uuid()) {
  remote_->expose(handler_id_, [service](const std::string& message) {
    if (auto s = service.lock()) s->deliver(message);
    return Outcome::success("null");
  });
}

bool StreamBridgeLink::watch(const std::string& stream) {
  // Under the lock until the binding is sent: a second join of the stream must not read its sync
  // (over the same connection) before the binding went out.
  std::lock_guard lock(mu_);
  if (watched_.count(stream)) return true;
  if (watched_.size() >= kMaxWatchedStreams) {
    spdlog::warn("iii-stream: {} streams are watched through the bridge already; changes of `{}` made on {} "
                 "reach this engine's sockets only when made through this engine",
                 kMaxWatchedStreams, stream, remote_->url());
    return false;
  }
  watched_.insert(stream);
  remote_->register_trigger("stream", handler_id_, FrameWriter().string("stream_name", stream).finish());
  return true;
}

bool StreamBridgeLink::watching(const std::string& stream) const {
  std::lock_guard lock(mu_);
  return watched_.count(stream) > 0;
}

StreamBackend open_bridge_backend(const std::string& url, const std::shared_ptr<StreamService>& service) {
  StreamBackend backend;
  backend.bridge = std::make_shared<StreamBridgeLink>(url, service);
  return backend;
}

}  // namespace iii
