// The worker WebSocket listener (protocol.md §1.1): `/` is a worker connection, `/otel` a
// telemetry-only socket whose frames are drained, `/ws/channels/{id}?key=…&dir=…` one side of a
// channel (net/channel_session.h). Other paths get a plain HTTP 404.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace iii {

class ChannelHub;
class Engine;

struct ListenerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 49134;
  // A socket that does not finish the HTTP upgrade in time is closed.
  std::chrono::milliseconds handshake_timeout{10000};
  // Largest inbound WebSocket message; a bigger one closes that connection with code 1009.
  size_t max_message_bytes = 64u << 20;
  // Bytes queued to one worker that is not reading; beyond it the worker is disconnected
  // (a slow consumer must not hold the engine's memory hostage).
  size_t max_send_queue_bytes = 256u << 20;
};

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
