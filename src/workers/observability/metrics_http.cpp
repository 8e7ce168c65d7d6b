#include "workers/observability/metrics_http.h"

#include <boost/system/system_error.hpp>

#include <exception>
#include <string_view>
#include <system_error>

#include "net/http_server.h"
#include "net/http_transport.h"
#include "wire/json_writer.h"

namespace iii::obs {
namespace {

constexpr size_t kBodyLimit = 64 * 1024;  // these routes take no body: a large one is not a scrape
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

struct Response {
  int status = 200;
  std::string_view content_type = kJson;
  std::string body;
  bool allow = false;  // a 405 names the methods it would take
};

std::string serialize(const Response& r, bool keep_alive, bool http10, bool head) {
  std::string out;
  out.reserve(160 + (head ? 0 : r.body.size()));
  out += "HTTP/1.1 " + std::to_string(r.status) + ' ' + std::string(reason(r.status)) + "\r\n";
  out += "Content-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";  // health and metrics must never come from a cache
  if (r.allow) out += "Allow: GET, HEAD\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  else if (http10) out += "Connection: keep-alive\r\n";  // HTTP/1.0 closes unless told otherwise
  out += "\r\n";
  if (!head) out += r.body;
  return out;
}

std::string error_json(std::string_view message) {
  std::string body = "{\"error\":";
  append_json_string(body, message);
  body += '}';
  return body;
}

Response route(std::string_view method, std::string_view path, const MetricsHttpServer::MetricsText& metrics_text,
               const MetricsHttpServer::Readiness& readiness) {
  const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
  if (!known) return {404, kJson, error_json("not found")};
  if (method != "GET" && method != "HEAD") return {405, kJson, error_json("method not allowed"), true};
  if (path == "/healthz") return {200, kJson, "{\"status\":\"ok\"}"};
  // The callbacks belong to the embedding code: a throw becomes a 500, never a dropped connection.
  try {
    if (path == "/metrics") return {200, kPrometheus, metrics_text ? metrics_text() : std::string()};
    auto [ready, body] = readiness ? readiness() : std::pair<bool, std::string>{true, ""};
    if (body.empty()) body = ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}";
    return {ready ? 200 : 503, kJson, std::move(body)};
  } catch (const std::exception& e) {
    return {500, kJson, error_json(e.what())};
  }
}

// The connection keeps its exchange until finish(); ours is over as soon as the response is
// handed to the transport, so there is nothing to abort.
class FinishedExchange final : public HttpServerExchange {
 public:
  void abort() override {}
};

class MetricsService final : public HttpService {
 public:
  MetricsService(MetricsHttpServer::MetricsText metrics_text, MetricsHttpServer::Readiness readiness)
      : metrics_text_(std::move(metrics_text)), readiness_(std::move(readiness)) {}

  size_t body_limit() const override { return kBodyLimit; }

  std::shared_ptr<HttpServerExchange> start(std::shared_ptr<HttpTransport> transport, const HttpRequestView& request,
                                            HttpExchangeOptions options) override {
    std::string bytes = MetricsHttpServer::respond(request.method, request.target, options.keep_alive, options.http10,
                                                   metrics_text_, readiness_);
    HttpTransport& t = *transport;
    t.write(std::move(bytes), [transport = std::move(transport), keep_alive = options.keep_alive](bool ok) {
      transport->finish(ok && keep_alive);
    });
    return std::make_shared<FinishedExchange>();
  }

  std::string refusal(int status) const override {
    return serialize({status, kJson, error_json(reason(status))}, false, false, false);
  }

 private:
  MetricsHttpServer::MetricsText metrics_text_;
  MetricsHttpServer::Readiness readiness_;
};

}  // namespace

std::string MetricsHttpServer::respond(std::string_view method, std::string_view target, bool keep_alive, bool http10,
                                       const MetricsText& metrics_text, const Readiness& readiness) {
  const std::string_view path = target.substr(0, target.find_first_of("?#"));
  return serialize(route(method, path, metrics_text, readiness), keep_alive, http10, method == "HEAD");
}

MetricsHttpServer::MetricsHttpServer(boost::asio::io_context& io, MetricsText metrics_text, Readiness readiness)
    : server_(std::make_unique<HttpServer>(
          io, std::make_shared<MetricsService>(std::move(metrics_text), std::move(readiness)))) {}

MetricsHttpServer::~MetricsHttpServer() { stop(); }

void MetricsHttpServer::listen(const std::string& host, uint16_t port) {
  try {
    server_->listen(host, port);
  } catch (const boost::system::system_error& e) {
    // Asio reports in Boost's error type; callers of this layer expect the standard one.
    throw std::system_error(std::error_code(e.code()), "metrics endpoint " + host + ":" + std::to_string(port));
  }
}

void MetricsHttpServer::stop() { server_->stop(); }

uint16_t MetricsHttpServer::port() const { return server_->port(); }

}  // namespace iii::obs
