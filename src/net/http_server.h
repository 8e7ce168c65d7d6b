// The iii-http listener (builtins.md §1): HTTP/1.1 on Beast with keep-alive and pipelining,
// TCP_NODELAY, a request body limit (413), one write per buffered response. Each parsed request is
// handed to an HttpExchange (workers/http/http_exchange.h), which does everything else.
#pragma once
#include <cstdint>
#include <memory>

#include "workers/builtin.h"

namespace boost::asio {
class io_context;
}

namespace iii {

class ChannelHub;
class HttpTriggerWorker;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, std::shared_ptr<HttpTriggerWorker> worker);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the configured host:port and starts accepting. Throws std::system_error.
  void start();
  // Stops accepting (open connections finish their current exchange).
  void stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The `iii-http` built-in (alias `http`): its factory parses the config block (BuiltinConfigError
// on bad keys), creates the `http` trigger type and the server; start() binds the port.
BuiltinDescriptor http_builtin(boost::asio::io_context& io, ChannelHub& hub);

}  // namespace iii
