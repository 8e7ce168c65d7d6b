// A WebSocket server for a WsService (net/ws_service.h): accepts connections on one address,
// reads each upgrade request (path `/` only; others get 404, plain HTTP gets 426), asks the
// service to decide, and serves accepted sockets as WsConnections. The iii-stream client socket
// is such a server.
//
// Deadlines: the upgrade request must arrive within `handshake_timeout` (else the socket closes),
// and the service must decide within its decision_timeout() (else the client gets its
// timeout_status() and the socket closes).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "net/ws_service.h"
#include "wire/asio_fwd.h"

namespace iii {

class WsServer {
 public:
  WsServer(boost::asio::io_context& io, std::shared_ptr<WsService> service,
           std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10));
  ~WsServer();
  WsServer(const WsServer&) = delete;
  WsServer& operator=(const WsServer&) = delete;

  // Binds host:port (a name such as "localhost" is resolved) and starts accepting. Throws
  // boost::system::system_error (a std::runtime_error) when the address cannot be bound.
  void listen(const std::string& host, uint16_t port);
  // Stops accepting and drops every open connection (their handlers see on_closed()).
  void stop();
  // The bound port (useful with port 0); 0 when not listening.
  uint16_t port() const;
  // Open connections (accepted, not yet closed).
  size_t connection_count() const;

  struct Impl;  // internal (net/ws_server.cpp)

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii
