// The state::* functions (docs/builtins.md §2.2). Each decodes its input (bad input answers
// deserialization_error and changes nothing), runs against the store, answers, and only then —
// after the write succeeded and the caller has its answer — fans the change out to the `state`
// triggers.
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

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

// A body's answer: the reply, or the exception that stopped it (mapped to an error by failure()).
using Answer = std::function<void(std::exception_ptr, Reply)>;
// Decodes its input, the call's raw JSON `data` (throwing InputError and the like), then starts
// the store's asynchronous operation, whose completion calls `answer`: at once on the embedded
// stores, from the Redis client's thread on Redis (store/kv_store.h), so no thread waits for a
// round trip. It moves `answer` into that completion (a copy would copy the call's completion
// and strings); a throw before that leaves `answer` to the caller.
using Body = std::function<void(std::string_view data, KvStore&, Answer&)>;

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

// The error answer of a call stopped by `error`: bad input answers deserialization_error; a store
// failure (KvStoreError) or anything else answers the function's own code, never dropped.
Outcome failure(const FunctionDef& def, std::exception_ptr error) {
  const std::string prefix = def.failure_prefix;
  auto bad_input = [&](const char* what) {
    return Outcome::failure(codes::kDeserializationError,
                            "Failed to deserialize input for " + std::string(def.id) + ": " + what);
  };
  try {
    std::rethrow_exception(error);
  } catch (const InputError& e) {
    return bad_input(e.what());
  } catch (const update_ops::ParseError& e) {
    return bad_input(e.what());
  } catch (const std::exception& e) {
    return Outcome::failure(def.error_code, prefix + e.what());
  } catch (...) {
    return Outcome::failure(def.error_code, prefix + "unknown error");
  }
}

// Runs one call: decodes, runs `body` against the store, answers, then fires the triggers.
void run_call(const std::shared_ptr<StateService>& service, const std::shared_ptr<const FunctionDef>& def,
              const InProcessCall& call, Completion done) {
  Answer answer = [service, def, traceparent = call.traceparent, done = std::move(done)](std::exception_ptr error,
                                                                                       Reply reply) {
    if (error) reply = Reply{failure(*def, error), std::nullopt};
    try {
      done(std::move(reply.outcome));
      if (reply.event && service->config().triggers_enabled) {
        StateEvent& e = *reply.event;
        service->triggers().fire(
            e.scope, e.key, [&] { return state_event_payload(e.event_type, e.scope, e.key, e.old_value, e.new_value); },
            traceparent);
      }
    } catch (...) {  // answered already: an exception here must not answer a second time
    }
  };
  try {
    std::shared_ptr<KvStore> store = service->store();
    if (!store)
      return answer(nullptr, Reply{Outcome::failure(def->error_code, std::string(def->failure_prefix) +
                                                                        "the state store is not open (iii-state is not running)"),
                                   std::nullopt});
    def->body(call.data, *store, answer);  // the store's last step is the call to answer
  } catch (...) {
    if (answer) answer(std::current_exception(), {});
    else spdlog::error("{}: the store threw after taking the call's answer", def->id);
  }
}

// A store's asynchronous answer, turned into the body's by `make` (which may throw).
template <class T, class Make>
KvDone<T> then(Answer answer, Make make) {
  return [answer = std::move(answer), make = std::move(make)](std::exception_ptr error, T value) mutable {
    if (error) return answer(error, {});
    std::optional<Reply> reply;
    try {
      reply = make(std::move(value));
    } catch (...) {
      return answer(std::current_exception(), {});
    }
    answer(nullptr, std::move(*reply));
  };
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
                               [&] {
                                 return state_event_payload(event->event_type, event->scope, event->key,
                                                            event->old_value, event->new_value);
                               },
                               call.traceparent);
  });
}

AsyncFunctionHandler make_handler(const std::shared_ptr<StateService>& service, const FunctionDef& def) {
  // Shared with the calls in flight, which may outlive the handler (a reload).
  return [service, def = std::make_shared<const FunctionDef>(def)](const InProcessCall& call, Completion done) {
    if (std::shared_ptr<RemoteEngine> remote = service->remote())
      return run_remote(service, *remote, *def, call, std::move(done));
    run_call(service, def, call, std::move(done));
  };
}

// --- the functions ---

// The value's text is stored as the caller wrote it (checked, not rebuilt: core/json_members.h).
Body set_body(const std::shared_ptr<StateService>& service) {
  return [service](std::string_view data, KvStore& store, Answer& answer) {
    JsonMember in[] = {{"scope"}, {"key"}, {"value", true}, {"data", true}};
    read_members(data, in);
    std::string scope = required_string(in[0]), key = required_string(in[1]);
    JsonMember& value = in[2];
    if (value.kind != JsonKind::kAbsent && in[3].kind != JsonKind::kAbsent)
      throw InputError("duplicate field `value` (given as both `value` and `data`)");
    if (value.kind == JsonKind::kAbsent) value = std::move(in[3]);
    if (value.kind == JsonKind::kAbsent) throw InputError("missing field `value`");
    std::string text = std::move(value.text);
    if (const auto limit = service->config().max_value_bytes; limit && text.size() > *limit) {
      return answer(nullptr, Reply{Outcome::failure("VALUE_TOO_LARGE", "Value of " + std::to_string(text.size()) +
                                                                           " bytes exceeds max_value_bytes (" +
                                                                           std::to_string(*limit) + ")"),
                                   std::nullopt});
    }
    store.set_async(scope, key, text,
                    then<std::optional<std::string>>(
                        std::move(answer), [scope, key, text](std::optional<std::string> previous) mutable {
                          FrameWriter w(32 + text.size() + (previous ? previous->size() : 0));
                          w.raw("old_value", or_null(previous)).raw("new_value", text);
                          return Reply{Outcome::success(w.finish()),
                                       StateEvent{created_or_updated(previous), std::move(scope), std::move(key),
                                                  std::move(previous), std::move(text)}};
                        }));
  };
}

void get_body(std::string_view data, KvStore& store, Answer& answer) {
  JsonMember in[] = {{"scope"}, {"key"}};
  read_members(data, in);
  const std::string scope = required_string(in[0]), key = required_string(in[1]);  // in this order
  store.get_async(scope, key,
                  then<std::optional<std::string>>(std::move(answer), [](std::optional<std::string> value) {
                    return Reply{Outcome::success(or_null(value)), std::nullopt};
                  }));
}

void delete_body(std::string_view data, KvStore& store, Answer& answer) {
  JsonMember in[] = {{"scope"}, {"key"}};
  read_members(data, in);
  std::string scope = required_string(in[0]), key = required_string(in[1]);
  store.remove_async(scope, key,
                     then<std::optional<std::string>>(std::move(answer), [scope, key](std::optional<std::string> removed) mutable {
                       std::string result = or_null(removed);
                       // Announced even when nothing was there (old_value null), as upstream does.
                       return Reply{Outcome::success(std::move(result)),
                                    StateEvent{"state:deleted", std::move(scope), std::move(key), std::move(removed),
                                               std::nullopt}};
                     }));
}

void update_body(std::string_view data, KvStore& store, Answer& answer) {
  const FunctionInput in(data);
  std::string scope = in.required_string("scope"), key = in.required_string("key");
  auto ops = std::make_shared<const std::vector<update_ops::Op>>(update_ops::parse(in.required("ops")));
  // Written by fn, read once the update is done: the last run of fn is the one that was stored.
  auto errors = std::make_shared<std::vector<update_ops::OpError>>();
  KvUpdateFn fn = [ops, errors, scope, key](const std::optional<std::string>& current) -> std::optional<std::string> {
    std::optional<json::value> value;
    if (current) {
      std::string error;
      value = json_text::parse(*current, &error);
      if (!value) throw KvStoreError("the stored value of " + scope + "/" + key + " is not valid JSON: " + error);
    }
    update_ops::Result r = update_ops::apply(std::move(value), *ops);
    *errors = std::move(r.errors);
    return json_text::serialize(r.value);
  };
  store.update_async(scope, key, std::move(fn), then<KvUpdate>(std::move(answer), [scope, key, errors](KvUpdate u) mutable {
                       FrameWriter w;
                       w.raw("old_value", or_null(u.old_value)).raw("new_value", or_null(u.new_value));
                       if (!errors->empty()) w.raw("errors", json_text::serialize(update_ops::errors_to_json(*errors)));
                       // Announced even when some ops failed: the ops that applied were written.
                       return Reply{Outcome::success(w.finish()),
                                    StateEvent{created_or_updated(u.old_value), std::move(scope), std::move(key),
                                               std::move(u.old_value), std::move(u.new_value)}};
                     }));
}

// The entries of the input's scope, answered as `shape` turns them into a result.
template <class Shape>
void scope_entries_body(std::string_view data, KvStore& store, Answer& answer, Shape shape) {
  const std::string scope = FunctionInput(data).required_string("scope");  // before `answer` is taken
  store.entries_async(scope, then<std::vector<KvEntry>>(std::move(answer), [shape](std::vector<KvEntry> entries) {
                        return Reply{Outcome::success(shape(entries)), std::nullopt};
                      }));
}

void list_body(std::string_view data, KvStore& store, Answer& answer) {
  scope_entries_body(data, store, answer, [](std::vector<KvEntry>& entries) {
    std::vector<std::string> values;
    values.reserve(entries.size());
    for (KvEntry& e : entries) values.push_back(std::move(e.value));
    return json_raw_array(values);
  });
}

void list_keys_body(std::string_view data, KvStore& store, Answer& answer) {
  scope_entries_body(data, store, answer, [](std::vector<KvEntry>& entries) {
    std::vector<std::string> keys;
    keys.reserve(entries.size());
    for (KvEntry& e : entries) keys.push_back(std::move(e.key));
    return FrameWriter().raw("keys", json_string_array(keys)).finish();
  });
}

void list_groups_body(std::string_view data, KvStore& store, Answer& answer) {
  (void)FunctionInput(data);  // checked: bad input is refused as by the others
  store.list_groups_async(then<std::vector<std::string>>(std::move(answer), [](std::vector<std::string> groups) {
    return Reply{Outcome::success(FrameWriter().raw("groups", json_string_array(groups)).finish()), std::nullopt};
  }));
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
