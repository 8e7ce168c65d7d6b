#include "workers/stream/stream_triggers.h"

#include <boost/json.hpp>

#include "core/json_text.h"
#include "engine/engine.h"

namespace iii {
namespace {

namespace json = boost::json;

// True when a join handler's answer is an object with "unauthorized": true.
bool says_unauthorized(const Outcome& outcome) {
  if (!outcome.ok() || outcome.result.find("unauthorized") == std::string::npos) return false;
  std::optional<json::value> v = json_text::parse(outcome.result);
  if (!v || !v->is_object()) return false;
  const json::value* u = v->get_object().if_contains("unauthorized");
  return u && u->is_bool() && u->get_bool();
}

}  // namespace

std::optional<ErrorBody> StreamTriggers::activate(Kind kind, const TriggerBinding& binding) {
  static const TriggerConfigReader reader("Invalid stream trigger config");
  Binding b{kind, binding, std::nullopt, std::nullopt, std::nullopt, {}};
  if (kind == Kind::kChange) {
    json::object config;
    if (auto e = reader.parse(binding.config, config)) return e;
    if (auto e = reader.optional_string(config, "stream_name", b.stream)) return e;
    if (!b.stream) return reader.reject("`stream_name` is required");
    if (auto e = reader.optional_string(config, "group_id", b.group)) return e;
    if (auto e = reader.optional_string(config, "item_id", b.item)) return e;
    if (auto e = reader.condition(config, b.condition_function_id)) return e;
  }
  bindings_.upsert(std::move(b));
  return std::nullopt;
}

void StreamTriggers::fire_change(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                                 std::string message, std::string traceparent) {
  std::vector<FireTarget> targets = bindings_.select([&](const Binding& b) {
    return b.kind == Kind::kChange && *b.stream == stream && (!b.group || *b.group == group) &&
           (!b.item || (id && *b.item == *id));
  });
  fire_in_sequence(engine_, std::move(targets), std::move(message), "stream trigger", {}, {}, std::move(traceparent));
}

void StreamTriggers::fire_join(std::string payload, std::function<void(bool unauthorized)> done) {
  auto unauthorized = std::make_shared<bool>(false);
  fire_in_sequence(
      engine_, bindings_.select([](const Binding& b) { return b.kind == Kind::kJoin; }), std::move(payload), "stream:join trigger",
      [unauthorized](const FireTarget&, FireStatus status, const Outcome& outcome) {
        if (status == FireStatus::kRan && says_unauthorized(outcome)) *unauthorized = true;
        return true;  // every join handler hears of the join, as upstream
      },
      [unauthorized, done = std::move(done)] { done(*unauthorized); });
}

void StreamTriggers::fire_leave(std::string payload) {
  fire_in_sequence(engine_, bindings_.select([](const Binding& b) { return b.kind == Kind::kLeave; }), std::move(payload),
                   "stream:leave trigger");
}

}  // namespace iii
