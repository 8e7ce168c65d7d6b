// The iii-stream client socket (docs/builtins.md §6.5), served by a WsServer (net/ws_server.h):
//  * on upgrade, the `auth_function` (if configured) is called with
//    {"headers":{…},"path":…,"query_params":{"k":["v",…]},"addr":"ip:port"}; an answer that is
//    an object lets the client in, and its `context` reaches the join/leave triggers. An error,
//    a timeout (auth_timeout_ms), a missing function or any other answer refuses the connection
//    with HTTP 401: this engine fails closed, where the official one lets the client in.
//  * client messages (text or binary JSON) {"type":"join"|"leave","data":{"subscriptionId",
//    "streamName","groupId","id"?}} are handled one at a time, in order: a join runs the
//    stream:join triggers (one answering {"unauthorized": true} refuses it with an
//    `unauthorized` event), then subscribes and sends one `sync` message (the item, or the
//    group's array); a leave unsubscribes and runs the stream:leave triggers, which also run for
//    every remaining subscription when the socket closes. Malformed messages are logged and
//    ignored, as upstream does.
//  * bounds: max_subscriptions_per_socket (beyond it: close 1008), max_message_bytes (1009),
//    max_send_queue_bytes (a socket that does not read: close 1008 and a log line).
#pragma once
#include <memory>

#include "net/ws_service.h"

namespace iii {

class StreamService;

class StreamSocketService final : public WsService {
 public:
  explicit StreamSocketService(std::shared_ptr<StreamService> service) : service_(std::move(service)) {}
  void upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) override;
  // The auth function's deadline; a client it keeps waiting is refused like any other (401).
  std::chrono::milliseconds decision_timeout() const override;
  int timeout_status() const override { return 401; }

 private:
  const std::shared_ptr<StreamService> service_;
};

}  // namespace iii
