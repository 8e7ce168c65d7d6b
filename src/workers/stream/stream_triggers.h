// The trigger types of iii-stream (docs/builtins.md §6.4):
//  * `stream`: config `stream_name` (required: a binding without it is refused, where the
//    official engine crashes), optional exact `group_id` / `item_id` filters and
//    `condition_function_id`; fired after every set/update/delete/send with the change event.
//  * `stream:join` / `stream:leave`: config ignored; fired for every join/leave of a client
//    subscription with {"subscription_id","stream_name","group_id","id"?,"context"?}. A join
//    handler answering {"unauthorized": true} refuses that subscription.
// The bindings one event reaches run one after another, in activation order; activating an id
// again replaces its binding (and keeps its place).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "workers/fire_sequence.h"
#include "workers/trigger_bindings.h"

namespace iii {

class Engine;

class StreamTriggers {
 public:
  enum class Kind { kChange, kJoin, kLeave };
  static constexpr const char* kChangeType = "stream";
  static constexpr const char* kJoinType = "stream:join";
  static constexpr const char* kLeaveType = "stream:leave";

  explicit StreamTriggers(Engine& engine) : engine_(engine) {}

  std::optional<ErrorBody> activate(Kind kind, const TriggerBinding& binding);
  void deactivate(const TriggerBinding& binding) { bindings_.remove(binding.id); }

  // Fires the `stream` bindings matching (stream, group, id) with `message` (the change event).
  void fire_change(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                   std::string message, std::string traceparent = {});
  // Fires every stream:join binding with `payload`; `done(unauthorized)` runs once all answered
  // (or at once when there are none), true when one of them answered {"unauthorized": true}.
  void fire_join(std::string payload, std::function<void(bool unauthorized)> done);
  void fire_leave(std::string payload);

  size_t size() const { return bindings_.size(); }

 private:
  struct Binding {
    Kind kind;
    TriggerBinding binding;
    std::optional<std::string> stream, group, item;
    std::string condition_function_id;
  };

  Engine& engine_;
  BindingList<Binding> bindings_;
};

}  // namespace iii
