#include "workers/state/state_triggers.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>
#include <memory>

#include "wire/json_writer.h"
#include "engine/engine.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

ErrorBody rejection(const std::string& why) {
  return ErrorBody{codes::kTriggerRegistrationFailed, "Invalid state trigger config: " + why, std::nullopt};
}

// Reads an optional string field of the config; an ErrorBody when it has another type.
std::optional<ErrorBody> optional_string(const json::object& config, std::string_view name,
                                         std::optional<std::string>& out) {
  const json::value* v = config.if_contains(name);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string())
    return rejection("`" + std::string(name) + "` must be a string, got " + json_text::type_name(*v));
  out = std::string(v->get_string());
  return std::nullopt;
}

// Runs one write's matching bindings one after the other: the next fires when the previous
// handler (or its condition) has answered.
class FireChain : public std::enable_shared_from_this<FireChain> {
 public:
  struct Target {
    TriggerBinding binding;
    std::string condition_function_id;
  };
  FireChain(Engine& engine, std::vector<Target> targets, std::string payload)
      : engine_(engine), targets_(std::move(targets)), payload_(std::move(payload)) {}

  void next() {
    if (next_ >= targets_.size()) return;
    const Target& t = targets_[next_++];
    engine_.fire(t.binding, t.condition_function_id, payload_,
                 [self = shared_from_this(), id = t.binding.id, target = t.binding.function_id](FireStatus status,
                                                                                                Outcome outcome) {
                   if (status == FireStatus::kRan && !outcome.ok())
                     spdlog::warn("state trigger {} → {} failed: {}: {}", id, target, outcome.error->code,
                                  outcome.error->message);
                   self->next();
                 });
  }

 private:
  Engine& engine_;
  const std::vector<Target> targets_;
  const std::string payload_;
  size_t next_ = 0;
};

}  // namespace

std::optional<ErrorBody> StateTriggers::activate(const TriggerBinding& binding) {
  Binding b{binding, std::nullopt, std::nullopt, {}};
  std::string error;
  std::optional<json::value> config = json_text::parse(binding.config.empty() ? "null" : binding.config, &error);
  if (!config) return rejection("not valid JSON: " + error);
  if (!config->is_null()) {
    if (!config->is_object()) return rejection(std::string("expected an object, got ") + json_text::type_name(*config));
    const json::object& o = config->get_object();
    if (auto e = optional_string(o, "scope", b.scope)) return e;
    if (auto e = optional_string(o, "key", b.key)) return e;
    std::optional<std::string> condition;
    if (auto e = optional_string(o, "condition_function_id", condition)) return e;
    b.condition_function_id = condition.value_or("");
  }
  std::lock_guard lock(mu_);
  auto it = std::find_if(bindings_.begin(), bindings_.end(), [&](const Binding& x) { return x.binding.id == binding.id; });
  if (it != bindings_.end()) {
    *it = std::move(b);
  } else {
    bindings_.push_back(std::move(b));
  }
  return std::nullopt;
}

void StateTriggers::deactivate(const TriggerBinding& binding) {
  std::lock_guard lock(mu_);
  std::erase_if(bindings_, [&](const Binding& x) { return x.binding.id == binding.id; });
}

size_t StateTriggers::size() const {
  std::lock_guard lock(mu_);
  return bindings_.size();
}

void StateTriggers::fire(std::string_view scope, std::string_view key, std::string payload) {
  std::vector<FireChain::Target> targets;
  {
    std::lock_guard lock(mu_);
    for (const Binding& b : bindings_) {
      if (b.scope && *b.scope != scope) continue;
      if (b.key && *b.key != key) continue;
      targets.push_back(FireChain::Target{b.binding, b.condition_function_id});
    }
  }
  if (targets.empty()) return;
  std::make_shared<FireChain>(engine_, std::move(targets), std::move(payload))->next();
}

std::string state_event_payload(std::string_view event_type, std::string_view scope, std::string_view key,
                                const std::optional<std::string>& old_value,
                                const std::optional<std::string>& new_value) {
  FrameWriter w(64 + scope.size() + key.size() + (old_value ? old_value->size() : 0) +
                (new_value ? new_value->size() : 0));
  w.string("type", "state");
  w.string("event_type", event_type);
  w.string("scope", scope);
  w.string("key", key);
  w.raw("old_value", old_value ? *old_value : "null");
  w.raw("new_value", new_value ? *new_value : "null");
  return w.finish();
}

}  // namespace iii
