// The iii-http built-in (docs/builtins.md §1): the `http` trigger type, its route table, the live
// settings (config + CORS policy) and the request concurrency limit. It is the HttpService of an
// HttpServer (net/http_server.h, sockets only), which hands it each parsed request; it runs each
// one as an HttpExchange (http_exchange.h).
#pragma once
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "net/http_transport.h"
#include "wire/asio_fwd.h"
#include "workers/builtin.h"
#include "workers/http/http_config.h"
#include "workers/http/http_cors.h"
#include "workers/http/route_table.h"

namespace iii {

class ChannelHub;
class Engine;
class InProcessWorker;

inline constexpr const char* kHttpWorkerName = "iii-http";
inline constexpr const char* kHttpTriggerType = "http";

// At most `limit` requests run at once; the others wait in arrival order.
class ConcurrencyLimiter {
 public:
  explicit ConcurrencyLimiter(size_t limit);
  void set_limit(size_t limit);
  // True: the caller holds a permit now. False: `granted` runs later (on the thread that frees a
  // permit) and the caller holds one from then on.
  bool acquire(std::function<void()> granted);
  void release();
  size_t in_use() const;
  size_t waiting() const;

 private:
  mutable std::mutex mu_;
  size_t limit_;
  size_t in_use_ = 0;
  std::deque<std::function<void()>> waiters_;
};

// What one request reads, swapped as a whole on reconfiguration.
struct HttpSettings {
  explicit HttpSettings(HttpConfig c) : config(std::move(c)), cors(config.cors) {}
  HttpConfig config;
  CorsPolicy cors;
};

class HttpTriggerWorker final : public HttpService {
 public:
  HttpTriggerWorker(Engine& engine, ChannelHub& hub, HttpConfig config);
  HttpTriggerWorker(const HttpTriggerWorker&) = delete;
  HttpTriggerWorker& operator=(const HttpTriggerWorker&) = delete;

  // The endpoint named "iii-http" that provides the `http` trigger type.
  std::shared_ptr<InProcessWorker> endpoint() const { return endpoint_; }

  Engine& engine() { return engine_; }
  ChannelHub& hub() { return hub_; }
  const RouteTable& routes() const { return *routes_; }
  RouteTable& routes() { return *routes_; }
  ConcurrencyLimiter& limiter() { return limiter_; }

  std::shared_ptr<const HttpSettings> settings() const;
  // Hot-applies timeout, concurrency limit, CORS, middleware and body limit. The listening address
  // is the server's business (it rebinds or keeps the old one).
  void apply(HttpConfig config);

  // HttpService
  size_t body_limit() const override;
  std::shared_ptr<HttpServerExchange> start(std::shared_ptr<HttpTransport> transport, const HttpRequestView& request,
                                            HttpExchangeOptions options) override;
  std::string refusal(int status) const override;

 private:
  Engine& engine_;
  ChannelHub& hub_;
  // Shared with the trigger type's handlers, which the engine may call after this object is gone.
  std::shared_ptr<RouteTable> routes_;
  ConcurrencyLimiter limiter_;
  mutable std::mutex settings_mu_;
  std::shared_ptr<const HttpSettings> settings_;
  std::shared_ptr<InProcessWorker> endpoint_;
};

// The `iii-http` built-in (alias `http`): its factory parses the config block (BuiltinConfigError
// on bad keys) and creates the trigger worker and its server; start() binds the port.
BuiltinDescriptor http_builtin(boost::asio::io_context& io, ChannelHub& hub);

}  // namespace iii
