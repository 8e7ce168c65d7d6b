// Fires bindings of a built-in trigger type one after the other: the next fires when the
// previous handler (or its condition) has answered. The state, stream, stream:join and
// stream:leave triggers all deliver one event this way (docs/builtins.md §2.3, §6.4).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "engine/engine.h"

namespace iii {

struct FireTarget {
  TriggerBinding binding;
  std::string condition_function_id;
};

// Called after each target answered; return false to stop before the next one.
using FireStepFn = std::function<bool(const FireTarget&, FireStatus, const Outcome&)>;

// Fires `targets` in order with `payload`. `on_step` may be empty (a failing handler is then
// logged with `label`, e.g. "state trigger"); `on_done` (may be empty) runs once, after the last
// step or after a step returned false. Every call continues `traceparent` (the trace of what
// caused the event). Returns at once. Never call with a lock held.
void fire_in_sequence(Engine& engine, std::vector<FireTarget> targets, std::string payload, std::string label,
                      FireStepFn on_step = {}, std::function<void()> on_done = {}, std::string traceparent = {});

}  // namespace iii
