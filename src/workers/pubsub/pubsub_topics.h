// The `local` pub/sub adapter (docs/builtins.md §5): topic → subscribers, in this process only.
//
// A subscriber is one `subscribe` binding: {topic, condition_function_id?}. publish() fans the
// message out to every subscriber of the topic at once, each through Engine::fire (its condition
// first, then its function) with the raw `data` as payload and no trigger metadata. Results and
// errors are logged and otherwise ignored: one failing subscriber never affects the others, and
// nothing is retried or kept.
//
// Unlike upstream's local adapter (docs/builtins.md §14.3), removing one binding removes only that
// binding; the topic's other subscribers stay. Activating an id again replaces its subscription
// (possibly moving it to another topic). Unlike upstream, condition_function_id is applied.
//
// Thread-safe; the mutex is never held while calling into the engine.
#pragma once
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "core/string_map.h"

namespace iii {

class Engine;

class PubSubTopics {
 public:
  explicit PubSubTopics(Engine& engine) : engine_(engine) {}

  // Validates the binding's config and subscribes it. Returns the rejection for a bad config.
  std::optional<ErrorBody> activate(const TriggerBinding& binding);
  void deactivate(const TriggerBinding& binding);

  // Delivers `data` (raw JSON) to every subscriber of `topic` on this engine; returns how many
  // there were.
  size_t publish(std::string_view topic, const std::string& data, const std::string& traceparent = {});

  // For a shared adapter (Redis): told (outside the lock) when a topic gets its first subscriber
  // here (true) or loses its last one (false). Set before any binding is activated.
  using TopicListener = std::function<void(const std::string& topic, bool has_subscribers)>;
  void set_topic_listener(TopicListener listener) { listener_ = std::move(listener); }

  size_t subscriber_count(std::string_view topic) const;
  size_t topic_count() const;

 private:
  struct Subscriber {
    TriggerBinding binding;  // metadata cleared: pub/sub does not forward it (docs/builtins.md §0.2)
    std::string condition_function_id;
  };
  // Removes subscription `id`; returns its topic when that topic has no subscriber left.
  std::optional<std::string> remove_locked(const std::string& id);

  Engine& engine_;
  mutable std::mutex mu_;
  StringMap<std::map<std::string, Subscriber>> topics_;  // topic → trigger id → subscriber
  StringMap<std::string> topic_of_;                       // trigger id → topic
  TopicListener listener_;
};

}  // namespace iii
