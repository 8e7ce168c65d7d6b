#include "workers/http/http_worker.h"

#include <algorithm>
#include <vector>

#include "engine/engine.h"
#include "engine/in_process_worker.h"

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

}  // namespace iii
