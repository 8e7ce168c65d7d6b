#include "workers/queue/queue_service.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <cmath>
#include <set>

#include "engine/engine.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '@' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

struct Rejection {
  std::string why;
};

ErrorBody rejection(const std::string& why) {
  return ErrorBody{codes::kTriggerRegistrationFailed, "Invalid durable:subscriber trigger config: " + why, std::nullopt};
}

std::optional<std::string> optional_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) throw Rejection{"`" + std::string(key) + "` must be a string, got " + json_text::type_name(*v)};
  return std::string(v->get_string());
}

std::optional<uint64_t> optional_integer(const json::object& o, std::string_view key, uint64_t min, uint64_t max) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  std::optional<uint64_t> n;
  if (v->is_int64() && v->get_int64() >= 0) n = static_cast<uint64_t>(v->get_int64());
  if (v->is_uint64()) n = v->get_uint64();
  if (v->is_double() && v->get_double() >= 0 && v->get_double() < 1e15 && std::floor(v->get_double()) == v->get_double())
    n = static_cast<uint64_t>(v->get_double());
  if (!n || *n < min || *n > max)
    throw Rejection{"`queue_config." + std::string(key) + "` must be a whole number between " + std::to_string(min) +
                    " and " + std::to_string(max)};
  return n;
}

// The subscriber's queue settings. Defaults: 3 attempts, 1000 ms base backoff, concurrency 10,
// concurrent mode. maxRetries counts retries (N + 1 attempts), unlike a named queue's max_retries.
QueueSettings subscriber_settings(const json::value* queue_config) {
  QueueSettings s;
  if (!queue_config || queue_config->is_null()) return s;
  if (!queue_config->is_object())
    throw Rejection{std::string("`queue_config` must be an object, got ") + json_text::type_name(*queue_config)};
  const json::object& o = queue_config->get_object();
  if (auto type = optional_string(o, "type")) s.fifo = *type == "fifo";
  if (auto n = optional_integer(o, "maxRetries", 0, 1000)) s.max_attempts = static_cast<uint32_t>(*n) + 1;
  if (auto n = optional_integer(o, "concurrency", 1, 10000)) s.concurrency = static_cast<uint32_t>(*n);
  if (auto n = optional_integer(o, "backoffDelayMs", 0, kMaxBackoffMs)) s.backoff_ms = *n;
  // maxPriority (RabbitMQ), visibilityTimeout, delaySeconds and backoffType: accepted, unused.
  return s;
}

}  // namespace

std::string named_queue_store_name(std::string_view queue) { return kNamedQueuePrefix + std::string(queue); }

std::string subscriber_queue_store_name(std::string_view topic, std::string_view function_id, std::string_view ns) {
  return escape(topic) + "::" + escape(function_id) + "@" + escape(ns);
}

QueueService::QueueService(Engine& engine, QueueWorkerConfig config, QueueClock clock)
    : engine_(engine),
      config_(std::move(config)),
      dispatcher_(std::make_shared<QueueDispatcher>(engine, std::move(clock))),
      ticker_(engine) {}

void QueueService::open(std::shared_ptr<QueueStore> store) {
  for (const auto& [name, queue] : config_.queues)
    dispatcher_->set_consumer(named_queue_store_name(name), queue.settings, ConsumerTarget{});
  dispatcher_->open(std::move(store));
  ticker_.start([weak = std::weak_ptr<QueueDispatcher>(dispatcher_)](Clock::time_point) {
    if (auto d = weak.lock()) d->tick();
  });
}

void QueueService::close() {
  ticker_.stop();
  dispatcher_->close();
}

std::optional<ErrorBody> QueueService::activate(const TriggerBinding& binding) {
  Subscription sub;
  try {
    std::string error;
    std::optional<json::value> config = json_text::parse(binding.config.empty() ? "null" : binding.config, &error);
    if (!config) return rejection("not valid JSON: " + error);
    if (!config->is_object()) return rejection(std::string("expected an object with `topic`, got ") + json_text::type_name(*config));
    const json::object& o = config->get_object();
    std::optional<std::string> topic = optional_string(o, "topic");
    if (!topic) topic = optional_string(o, "queue");  // the standalone worker's alias
    if (!topic || topic->empty()) return rejection("`topic` is required (a non-empty string)");
    sub.topic = *topic;
    sub.settings = subscriber_settings(o.if_contains("queue_config"));
    sub.target.condition_function_id = optional_string(o, "condition_function_id").value_or("");
  } catch (const Rejection& r) {
    return rejection(r.why);
  }
  sub.function_id = binding.function_id;
  sub.queue = subscriber_queue_store_name(sub.topic, sub.function_id);
  sub.target.binding = binding;
  std::optional<std::string> orphaned;  // a re-activated id that moved to another queue
  {
    std::lock_guard lock(mu_);
    if (auto it = subscriptions_.find(binding.id); it != subscriptions_.end() && it->second.queue != sub.queue) {
      orphaned = it->second.queue;
      subscriptions_.erase(it);
      for (const auto& [id, other] : subscriptions_)
        if (other.queue == *orphaned) orphaned.reset();
    }
    subscriptions_.insert_or_assign(binding.id, sub);
  }
  if (orphaned) dispatcher_->remove_consumer(*orphaned);
  // The latest binding's queue_config applies to the whole queue, stored messages included.
  dispatcher_->set_consumer(sub.queue, sub.settings, sub.target);
  return std::nullopt;
}

void QueueService::deactivate(const TriggerBinding& binding) {
  std::optional<Subscription> successor;
  std::string queue;
  {
    std::lock_guard lock(mu_);
    auto it = subscriptions_.find(binding.id);
    if (it == subscriptions_.end()) return;
    queue = it->second.queue;
    subscriptions_.erase(it);
    for (const auto& [id, other] : subscriptions_)
      if (other.queue == queue) successor = other;
  }
  // Stored messages stay; they resume when the function subscribes to the topic again.
  if (successor) dispatcher_->set_consumer(queue, successor->settings, successor->target);
  else dispatcher_->remove_consumer(queue);
}

std::vector<QueueService::FanOut> QueueService::fan_out(std::string_view topic) const {
  std::vector<FanOut> out;
  std::set<std::string> seen;
  std::lock_guard lock(mu_);
  for (const auto& [id, sub] : subscriptions_)
    if (sub.topic == topic && seen.insert(sub.queue).second) out.push_back(FanOut{sub.queue, sub.function_id});
  return out;
}

std::map<std::string, size_t> QueueService::subscriber_counts() const {
  std::map<std::string, size_t> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, sub] : subscriptions_) ++out[sub.topic];
  return out;
}

QueueScope QueueService::scope_for(const std::string& name) const {
  if (config_.queues.count(name)) return QueueScope{named_queue_store_name(name), false};
  if (name.starts_with(kNamedQueuePrefix)) return QueueScope{name, false};
  // A named queue that left the config still has its messages under its store name.
  if (auto store = this->store()) {
    QueueCounts c = store->counts(QueueScope{named_queue_store_name(name), false});
    if (c.pending() + c.dead > 0) return QueueScope{named_queue_store_name(name), false};
  }
  return QueueScope{name, true};
}

void QueueService::wake(const QueueScope& scope) {
  if (!scope.is_topic) return dispatcher_->wake(scope.name);
  for (const FanOut& f : fan_out(scope.name)) dispatcher_->wake(f.queue);
}

std::optional<ErrorBody> job_target_denied(Engine& engine, std::string_view caller_worker_id,
                                           std::string_view function_id) {
  if (caller_worker_id.empty()) return std::nullopt;
  return engine.check_call_access(caller_worker_id, function_id);
}

}  // namespace iii
