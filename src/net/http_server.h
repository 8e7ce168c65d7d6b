// An HTTP/1.1 server on Beast: keep-alive and pipelining, TCP_NODELAY, deadlines for idle
// connections, bodies and writes, a header limit (431) and the service's body limit (413), one
// write per buffered response. It owns sockets only: each parsed request goes to the HttpService
// (net/http_transport.h) it was given, which answers through the connection's HttpTransport.
// The iii-http built-in (workers/http) is such a service.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "net/http_transport.h"
#include "wire/asio_fwd.h"

namespace iii {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, std::shared_ptr<HttpService> service);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (a name such as "localhost" is resolved) and starts accepting. Throws
  // std::system_error when the address cannot be bound.
  void listen(const std::string& host, uint16_t port);
  // Stops accepting at once (open connections finish their current exchange).
  void stop();
  // The bound port (useful with port 0); 0 when not listening.
  uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii
