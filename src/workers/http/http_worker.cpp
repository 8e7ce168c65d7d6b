#include "workers/http/http_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "net/http_server.h"
#include "workers/http/http_exchange.h"
#include "workers/http/http_response_mapping.h"

namespace iii {

// --- ConcurrencyLimiter ---

ConcurrencyLimiter::ConcurrencyLimiter(size_t limit) : limit_(std::max<size_t>(limit, 1)) {}

void ConcurrencyLimiter::set_limit(size_t limit) {
  std::vector<std::function<void()>> granted;
  {
    std::lock_guard lock(mu_);
    limit_ = std::max<size_t>(limit, 1);
    while (in_use_ < limit_ && !waiters_.empty()) {
      ++in_use_;
      granted.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
    }
  }
  for (auto& g : granted) g();
}

bool ConcurrencyLimiter::acquire(std::function<void()> granted) {
  std::lock_guard lock(mu_);
  if (in_use_ < limit_) {
    ++in_use_;
    return true;
  }
  waiters_.push_back(std::move(granted));
  return false;
}

void ConcurrencyLimiter::release() {
  std::function<void()> next;
  {
    std::lock_guard lock(mu_);
    if (!waiters_.empty() && in_use_ <= limit_) {
      next = std::move(waiters_.front());  // the permit passes straight to the next waiter
      waiters_.pop_front();
    } else if (in_use_ > 0) {
      --in_use_;
    }
  }
  if (next) next();
}

size_t ConcurrencyLimiter::in_use() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

size_t ConcurrencyLimiter::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

// --- HttpTriggerWorker ---

HttpTriggerWorker::HttpTriggerWorker(Engine& engine, ChannelHub& hub, HttpConfig config)
    : engine_(engine),
      hub_(hub),
      routes_(std::make_shared<RouteTable>()),
      limiter_(config.concurrency_request_limit),
      settings_(std::make_shared<const HttpSettings>(std::move(config))),
      endpoint_(std::make_shared<InProcessWorker>(engine, kHttpWorkerName)) {
  endpoint_->add_trigger_type(
      TriggerTypeSpec{kHttpTriggerType, "HTTP API trigger",
                      R"({"type":"object","required":["api_path"],"properties":{"api_path":{"type":"string"},)"
                      R"("http_method":{"type":"string"},"condition_function_id":{"type":"string"},)"
                      R"("middleware_function_ids":{"type":"array","items":{"type":"string"}}}})",
                      {}},
      TriggerTypeHandler{
          [routes = routes_](const TriggerBinding& binding) { return routes->add(binding); },
          [routes = routes_](const TriggerBinding& binding) { routes->remove(binding); },
      });
}

std::shared_ptr<const HttpSettings> HttpTriggerWorker::settings() const {
  std::lock_guard lock(settings_mu_);
  return settings_;
}

void HttpTriggerWorker::apply(HttpConfig config) {
  const size_t limit = config.concurrency_request_limit;
  auto next = std::make_shared<const HttpSettings>(std::move(config));
  {
    std::lock_guard lock(settings_mu_);
    settings_ = std::move(next);
  }
  limiter_.set_limit(limit);
}

size_t HttpTriggerWorker::body_limit() const { return settings()->config.body_limit_bytes; }

std::shared_ptr<HttpServerExchange> HttpTriggerWorker::start(std::shared_ptr<HttpTransport> transport,
                                                             const HttpRequestView& request,
                                                             HttpExchangeOptions options) {
  return start_http_exchange(*this, std::move(transport), request, options);
}

std::string HttpTriggerWorker::refusal(int status) const {
  const HttpResponse response =
      status == 413   ? payload_too_large_response()
      : status == 431 ? error_response(431, "HEADERS_TOO_LARGE", "Request headers too large", false)
                      : error_response(status, "BAD_REQUEST", "Malformed request", false);
  ResponseFraming framing;
  framing.keep_alive = false;
  return serialize_response(response, framing);
}

// --- the built-in ---

namespace {

class HttpBuiltin final : public BuiltinWorker {
 public:
  HttpBuiltin(boost::asio::io_context& io, Engine& engine, ChannelHub& hub, HttpConfig config)
      : worker_(std::make_shared<HttpTriggerWorker>(engine, hub, std::move(config))), server_(io, worker_) {}

  std::shared_ptr<InProcessWorker> endpoint() override { return worker_->endpoint(); }

  void start() override {
    const HttpConfig& config = worker_->settings()->config;
    server_.listen(config.host, config.port);
    spdlog::info("iii-http listening on http://{}:{}", config.host, server_.port());
  }

  void stop() override { server_.stop(); }

 private:
  std::shared_ptr<HttpTriggerWorker> worker_;
  HttpServer server_;
};

}  // namespace

BuiltinDescriptor http_builtin(boost::asio::io_context& io, ChannelHub& hub) {
  return {kHttpWorkerName, {"http"},
          [&io, &hub](BuiltinContext& context, const boost::json::value& config) -> std::unique_ptr<BuiltinWorker> {
            return std::make_unique<HttpBuiltin>(io, context.engine, hub, parse_http_config(config));
          }};
}

}  // namespace iii
