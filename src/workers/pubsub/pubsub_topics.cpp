#include "workers/pubsub/pubsub_topics.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <vector>

#include "engine/engine.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

ErrorBody rejection(const std::string& why) {
  return ErrorBody{codes::kTriggerRegistrationFailed, "Invalid subscribe trigger config: " + why, std::nullopt};
}

}  // namespace

std::optional<ErrorBody> PubSubTopics::activate(const TriggerBinding& binding) {
  std::string error;
  std::optional<json::value> config = json_text::parse(binding.config.empty() ? "null" : binding.config, &error);
  if (!config) return rejection("not valid JSON: " + error);
  if (!config->is_object()) {
    if (config->is_null()) return rejection("`topic` is required");
    return rejection(std::string("expected an object, got ") + json_text::type_name(*config));
  }
  const json::object& o = config->get_object();
  const json::value* topic = o.if_contains("topic");
  if (!topic || topic->is_null()) return rejection("`topic` is required");
  if (!topic->is_string()) return rejection(std::string("`topic` must be a string, got ") + json_text::type_name(*topic));
  if (topic->get_string().empty()) return rejection("`topic` must not be empty");
  Subscriber s{binding, {}};
  s.binding.metadata.clear();
  if (const json::value* c = o.if_contains("condition_function_id"); c && !c->is_null()) {
    if (!c->is_string())
      return rejection(std::string("`condition_function_id` must be a string, got ") + json_text::type_name(*c));
    s.condition_function_id = std::string(c->get_string());
  }
  const std::string name(topic->get_string());
  std::optional<std::string> emptied;
  bool fresh = false;
  {
    std::lock_guard lock(mu_);
    emptied = remove_locked(binding.id);
    fresh = !topics_.contains(name);
    topics_[name][binding.id] = std::move(s);
    topic_of_[binding.id] = name;
  }
  if (listener_) {
    if (emptied && *emptied != name) listener_(*emptied, false);
    if (fresh) listener_(name, true);
  }
  spdlog::info("pubsub subscription {} → {} ({})", name, binding.function_id, binding.id);
  return std::nullopt;
}

void PubSubTopics::deactivate(const TriggerBinding& binding) {
  std::optional<std::string> emptied;
  {
    std::lock_guard lock(mu_);
    emptied = remove_locked(binding.id);
  }
  if (emptied && listener_) listener_(*emptied, false);
}

// Removes subscription `id` from its topic only; the topic goes when its last subscriber does.
std::optional<std::string> PubSubTopics::remove_locked(const std::string& id) {
  auto where = topic_of_.find(id);
  if (where == topic_of_.end()) return std::nullopt;
  std::optional<std::string> emptied;
  auto topic = topics_.find(where->second);
  if (topic != topics_.end()) {
    topic->second.erase(id);
    if (topic->second.empty()) {
      emptied = topic->first;
      topics_.erase(topic);
    }
  }
  topic_of_.erase(where);
  return emptied;
}

size_t PubSubTopics::publish(std::string_view topic, const std::string& data, const std::string& traceparent) {
  std::vector<Subscriber> targets;
  {
    std::lock_guard lock(mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
      spdlog::debug("publish to {}: no subscribers", topic);
      return 0;
    }
    targets.reserve(it->second.size());
    for (const auto& [id, s] : it->second) targets.push_back(s);
  }
  for (const Subscriber& s : targets) {
    engine_.fire(s.binding, s.condition_function_id, data,
                 [id = s.binding.id, target = s.binding.function_id, t = std::string(topic)](FireStatus status,
                                                                                             Outcome outcome) {
                   if (status == FireStatus::kRan && !outcome.ok())
                     spdlog::warn("pubsub {} → {} ({}) failed: {}: {}", t, target, id, outcome.error->code,
                                   outcome.error->message);
                 },
                 traceparent);
  }
  return targets.size();
}

size_t PubSubTopics::subscriber_count(std::string_view topic) const {
  std::lock_guard lock(mu_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : it->second.size();
}

size_t PubSubTopics::topic_count() const {
  std::lock_guard lock(mu_);
  return topics_.size();
}

}  // namespace iii
