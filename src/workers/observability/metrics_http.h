// MetricsHttpServer: the small HTTP endpoint of iii-observability for scrapers and orchestrators,
// on the engine's HTTP server (net/http_server.h):
//
//   GET /metrics  200 text/plain; version=0.0.4 — the Prometheus page metrics_text() builds
//   GET /healthz  200 {"status":"ok"} — the process serves requests
//   GET /readyz   200 or 503 with the JSON readiness() explains
//   HEAD          like GET, without the body
//   other paths   404 {"error":"not found"}; other methods on a known path 405 (Allow: GET, HEAD)
//
// Query strings are ignored, request bodies are limited to 64 KiB, keep-alive follows the request.
// The callbacks run on the io_context's threads, possibly several at once: they must be
// thread-safe and quick (they block that connection while they run).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "wire/asio_fwd.h"

namespace iii {
class HttpServer;
}

namespace iii::obs {

class MetricsHttpServer {
 public:
  using MetricsText = std::function<std::string()>;
  using Readiness = std::function<std::pair<bool, std::string>()>;  // ready?, JSON body

  MetricsHttpServer(boost::asio::io_context& io, MetricsText metrics_text, Readiness readiness);
  ~MetricsHttpServer();  // stop()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds host:port (0: any free port) and starts serving. Throws std::system_error when the
  // address cannot be bound or resolved.
  void listen(const std::string& host, uint16_t port);
  // Stops accepting (open connections finish their exchange).
  void stop();
  // The bound port; 0 when not listening.
  uint16_t port() const;

  // The whole HTTP/1.1 response to one request (what the server writes), for the routes above.
  static std::string respond(std::string_view method, std::string_view target, bool keep_alive, bool http10,
                             const MetricsText& metrics_text, const Readiness& readiness);

 private:
  std::unique_ptr<HttpServer> server_;
};

}  // namespace iii::obs
