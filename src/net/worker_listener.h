// The worker WebSocket listener (docs/protocol.md §1.1): `/` is a worker connection, `/otel` a
// telemetry-only socket whose frames are drained, `/ws/channels/{id}?key=…&dir=…` one side of a
// channel (net/channel_session.h). Other paths get a plain HTTP 404.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "net/listener_options.h"
#include "wire/asio_fwd.h"

namespace iii {

class ChannelHub;
class Engine;

class WorkerListener {
 public:
  // `channels` null: /ws/channels/ answers 404 "Channel not found".
  WorkerListener(boost::asio::io_context& io, Engine& engine, ListenerOptions options, ChannelHub* channels = nullptr);
  ~WorkerListener();

  // Binds and starts accepting. Throws std::system_error when the address cannot be bound.
  void start();
  // The bound port (useful with port 0).
  uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii
