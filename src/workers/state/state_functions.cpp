// The state::* functions (docs/builtins.md §2.2). Each decodes its input (bad input answers
// deserialization_error and changes nothing), runs against the store, answers, and only then —
// after the write succeeded and the caller has its answer — fans the change out to the `state`
// triggers.
#include <boost/json.hpp>

#include "wire/json_writer.h"
#include "core/json_text.h"
#include "workers/function_input.h"
#include "workers/state/state_service.h"
#include "core/update_ops.h"

namespace iii {
namespace {

namespace json = boost::json;

// A change to announce to the `state` triggers once the caller has its answer.
struct StateEvent {
  const char* event_type;
  std::string scope, key;
  std::optional<std::string> old_value, new_value;
};

struct Reply {
  Outcome outcome;
  std::optional<StateEvent> event;
};

using Body = std::function<Reply(const FunctionInput&, KvStore&)>;

struct FunctionDef {
  const char* id;
  const char* description;
  const char* error_code;      // for store failures, e.g. SET_ERROR
  const char* failure_prefix;  // e.g. "Failed to set value: "
  Body body;
};

const char* created_or_updated(const std::optional<std::string>& old_value) {
  return old_value ? "state:updated" : "state:created";
}

std::string or_null(const std::optional<std::string>& raw) { return raw ? *raw : "null"; }

// Runs one call: decodes, runs `body` against the store, answers, then fires the triggers.
void run_call(StateService& service, const FunctionDef& def, const InProcessCall& call, const Completion& done) {
  const std::string code = def.error_code, prefix = def.failure_prefix;
  Reply reply;
  try {
    FunctionInput input(call.data);
    if (std::shared_ptr<KvStore> store = service.store()) {
      reply = def.body(input, *store);
    } else {
      reply.outcome = Outcome::failure(code, prefix + "the state store is not open (iii-state is not running)");
    }
  } catch (const InputError& e) {
    reply = Reply{Outcome::failure(codes::kDeserializationError, "Failed to deserialize input for " + std::string(def.id) +
                                                                     ": " + e.what()),
                  std::nullopt};
  } catch (const update_ops::ParseError& e) {
    reply = Reply{Outcome::failure(codes::kDeserializationError, "Failed to deserialize input for " + std::string(def.id) +
                                                                     ": " + e.what()),
                  std::nullopt};
  } catch (const std::exception& e) {  // KvStoreError, and anything else: answered, never dropped
    reply = Reply{Outcome::failure(code, prefix + e.what()), std::nullopt};
  }
  done(std::move(reply.outcome));
  if (reply.event && service.config().triggers_enabled) {
    StateEvent& e = *reply.event;
    service.triggers().fire(e.scope, e.key, state_event_payload(e.event_type, e.scope, e.key, e.old_value, e.new_value),
                            call.traceparent);
  }
}

// The change a state::set, update or delete answered by another engine made, from its answer
// ({"old_value","new_value"}; delete answers the removed value).
std::optional<StateEvent> remote_change(const FunctionDef& def, const InProcessCall& call, const std::string& result) {
  const std::string_view id = def.id;
  const bool removes = id == "state::delete";
  if (!removes && id != "state::set" && id != "state::update") return std::nullopt;
  const FunctionInput in(call.data);
  StateEvent e{"state:deleted", in.required_string("scope"), in.required_string("key"), std::nullopt, std::nullopt};
  if (removes) {
    const std::optional<json::value> removed = json_text::parse(result.empty() ? "null" : result);
    if (!removed) return std::nullopt;
    if (!removed->is_null()) e.old_value = json_text::serialize(*removed);
    return e;
  }
  std::optional<ChangeAnswer> answer = read_change_answer(result);
  if (!answer) return std::nullopt;
  e.old_value = std::move(answer->old_value);
  e.new_value = std::move(answer->new_value);
  e.event_type = created_or_updated(e.old_value);
  return e;
}

// With the bridge adapter: the same call on the remote engine; this engine's triggers fire on
// the change it answers.
void run_remote(const std::shared_ptr<StateService>& service, RemoteEngine& remote, const FunctionDef& def,
                const InProcessCall& call, Completion done) {
  remote.call(def.id, call.data, kBridgeCallTimeout, [service, def, call, done = std::move(done)](Outcome outcome) {
    std::optional<StateEvent> event;
    if (outcome.ok() && service->config().triggers_enabled) {
      try {
        event = remote_change(def, call, outcome.result);
      } catch (const std::exception&) {  // the remote took a call this engine cannot read back: no event
      }
    }
    done(std::move(outcome));
    if (event)
      service->triggers().fire(event->scope, event->key,
                               state_event_payload(event->event_type, event->scope, event->key, event->old_value,
                                                   event->new_value),
                               call.traceparent);
  });
}

AsyncFunctionHandler make_handler(const std::shared_ptr<StateService>& service, const FunctionDef& def) {
  return [service, def](const InProcessCall& call, Completion done) {
    if (std::shared_ptr<RemoteEngine> remote = service->remote()) return run_remote(service, *remote, def, call, done);
    std::shared_ptr<BlockingRunner> runner = service->runner();
    if (!runner) return run_call(*service, def, call, done);
    // A remote store: the round trip waits on a runner thread, not on the connection's.
    auto task = [service, def, call, done] { run_call(*service, def, call, done); };
    if (!runner->post(std::move(task)))
      done(Outcome::failure(def.error_code, std::string(def.failure_prefix) + "too many state calls are waiting for the store (" +
                                                std::to_string(BlockingRunner::kRedisStoreMaxQueued) + ")"));
  };
}

// --- the functions ---

Body set_body(const std::shared_ptr<StateService>& service) {
  return [service](const FunctionInput& in, KvStore& store) -> Reply {
    std::string scope = in.required_string("scope"), key = in.required_string("key");
    const json::value* value = in.find("value");
    const json::value* data = in.find("data");
    if (value && data) throw InputError("duplicate field `value` (given as both `value` and `data`)");
    if (!value) value = data;
    if (!value) throw InputError("missing field `value`");
    std::string text = json_text::serialize(*value);
    if (const auto limit = service->config().max_value_bytes; limit && text.size() > *limit) {
      return Reply{Outcome::failure("VALUE_TOO_LARGE", "Value of " + std::to_string(text.size()) +
                                                           " bytes exceeds max_value_bytes (" + std::to_string(*limit) +
                                                           ")"),
                   std::nullopt};
    }
    std::optional<std::string> previous = store.set(scope, key, text);
    FrameWriter w(32 + text.size() + (previous ? previous->size() : 0));
    w.raw("old_value", or_null(previous)).raw("new_value", text);
    return Reply{Outcome::success(w.finish()),
                 StateEvent{created_or_updated(previous), std::move(scope), std::move(key), std::move(previous),
                            std::move(text)}};
  };
}

Reply get_body(const FunctionInput& in, KvStore& store) {
  std::string scope = in.required_string("scope"), key = in.required_string("key");
  return Reply{Outcome::success(or_null(store.get(scope, key))), std::nullopt};
}

Reply delete_body(const FunctionInput& in, KvStore& store) {
  std::string scope = in.required_string("scope"), key = in.required_string("key");
  std::optional<std::string> removed = store.remove(scope, key);
  std::string result = or_null(removed);
  // Announced even when nothing was there (old_value null), as upstream does.
  return Reply{Outcome::success(std::move(result)),
               StateEvent{"state:deleted", std::move(scope), std::move(key), std::move(removed), std::nullopt}};
}

Reply update_body(const FunctionInput& in, KvStore& store) {
  std::string scope = in.required_string("scope"), key = in.required_string("key");
  const std::vector<update_ops::Op> ops = update_ops::parse(in.required("ops"));
  std::vector<update_ops::OpError> errors;
  KvUpdate u = store.update(scope, key, [&](const std::optional<std::string>& current) -> std::optional<std::string> {
    std::optional<json::value> value;
    if (current) {
      std::string error;
      value = json_text::parse(*current, &error);
      if (!value) throw KvStoreError("the stored value of " + scope + "/" + key + " is not valid JSON: " + error);
    }
    update_ops::Result r = update_ops::apply(std::move(value), ops);
    errors = std::move(r.errors);  // the last run is the one that was stored
    return json_text::serialize(r.value);
  });
  FrameWriter w;
  w.raw("old_value", or_null(u.old_value)).raw("new_value", or_null(u.new_value));
  if (!errors.empty()) w.raw("errors", json_text::serialize(update_ops::errors_to_json(errors)));
  // Announced even when some ops failed: the ops that applied were written.
  return Reply{Outcome::success(w.finish()), StateEvent{created_or_updated(u.old_value), std::move(scope),
                                                        std::move(key), std::move(u.old_value),
                                                        std::move(u.new_value)}};
}

Reply list_body(const FunctionInput& in, KvStore& store) {
  return Reply{Outcome::success(json_raw_array(store.list(in.required_string("scope")))), std::nullopt};
}

Reply list_groups_body(const FunctionInput&, KvStore& store) {
  return Reply{Outcome::success(FrameWriter().raw("groups", json_string_array(store.list_groups())).finish()), std::nullopt};
}

Reply list_keys_body(const FunctionInput& in, KvStore& store) {
  std::vector<std::string> keys;
  for (KvEntry& e : store.entries(in.required_string("scope"))) keys.push_back(std::move(e.key));
  return Reply{Outcome::success(FrameWriter().raw("keys", json_string_array(keys)).finish()), std::nullopt};
}

}  // namespace

void add_state_functions(InProcessWorker& worker, const std::shared_ptr<StateService>& service) {
  const FunctionDef defs[] = {
      {"state::set", "Set a value in state", "SET_ERROR", "Failed to set value: ", set_body(service)},
      {"state::get", "Get a value from state", "GET_ERROR", "Failed to get value: ", get_body},
      {"state::delete", "Delete a value from state", "DELETE_ERROR", "Failed to delete value: ", delete_body},
      {"state::update", "Update a value in state", "UPDATE_ERROR", "Failed to update value: ", update_body},
      {"state::list", "List the values of a state scope", "LIST_ERROR", "Failed to list values: ", list_body},
      {"state::list_groups", "List all state groups", "LIST_GROUPS_ERROR", "Failed to list groups: ",
       list_groups_body},
      {"state::list_keys", "List the keys of a state scope", "LIST_ERROR", "Failed to list keys: ", list_keys_body},
  };
  for (const FunctionDef& def : defs)
    worker.add_function(FunctionSpec{def.id, def.description, {}, {}, {}}, make_handler(service, def));
}

}  // namespace iii
