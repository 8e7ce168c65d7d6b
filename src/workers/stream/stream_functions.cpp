// The stream::* functions (docs/builtins.md §6.2). Each decodes its input (bad input answers
// deserialization_error and changes nothing), runs against the backend (a custom
// `stream::<op>(<stream>)` function when one is registered, else the store), answers, and only
// then announces the change to the subscribed sockets and the `stream` triggers. With the redis
// adapter the sockets hear of it through Redis: a store write publishes it as it commits, and a
// send is published before its answer (stream_redis.h).
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <memory>

#include "core/json_text.h"
#include "core/update_ops.h"
#include "wire/json_writer.h"
#include "workers/bridge/remote_engine.h"
#include "workers/function_input.h"
#include "workers/stream/stream_service.h"

namespace iii {
namespace {

namespace json = boost::json;
using ServicePtr = std::shared_ptr<StreamService>;

constexpr const char* kTooLarge = "ITEM_TOO_LARGE";

// An item over max_item_bytes, found inside an update (which then changes nothing).
struct ItemTooLarge : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The three names that address an item. Stream and group names may not hold NUL (the stores and
// the subscription table use it as a separator).
struct Address {
  std::string stream, group, item;
};

std::string name_field(const FunctionInput& in, std::string_view key) {
  std::string value = in.required_string(key);
  if (value.find('\0') != std::string::npos)
    throw InputError("field `" + std::string(key) + "` must not contain a NUL character");
  return value;
}

Address group_address(const FunctionInput& in) { return Address{name_field(in, "stream_name"), name_field(in, "group_id"), {}}; }
Address item_address(const FunctionInput& in) {
  Address a = group_address(in);
  a.item = in.required_string("item_id");
  return a;
}

std::string or_null(const std::optional<std::string>& raw) { return raw ? *raw : "null"; }

std::string too_large_message(size_t size, size_t limit) {
  return "Item of " + std::to_string(size) + " bytes exceeds max_item_bytes (" + std::to_string(limit) + ")";
}

// The change one call made, to publish once the caller has its answer. Filled by the store path
// directly, or read back from a custom backend's result.
struct Change {
  const char* type = nullptr;  // "create" | "update" | "delete"; null: nothing to announce
  std::string data;            // raw JSON
  bool from_store = false;     // the store path filled it (else read the custom result)
  bool announced = false;      // the store published it with the write (redis adapter), or the remote
                               // engine's trigger brings it to the hub (bridge adapter): triggers only
};

// From a custom backend's {"old_value", "new_value"} (set, update) or {"old_value"} (delete).
void read_custom_change(std::string_view op, const std::string& result, Change& change) {
  std::optional<ChangeAnswer> answer = read_change_answer(result);
  if (!answer) return;
  if (op == "delete") {
    if (answer->old_value) {
      change.type = "delete";
      change.data = std::move(*answer->old_value);
    }
    return;
  }
  change.type = answer->old_value ? "update" : "create";
  change.data = answer->new_value.value_or("null");
}

using Body = std::function<void(const ServicePtr&, const InProcessCall&, const FunctionInput&, Completion)>;

struct FunctionDef {
  const char* id;
  const char* description;
  const char* error_code;  // store failures, e.g. STREAM_SET_ERROR
  Body body;
};

// The answer of a write whose store operation failed: an item grown over max_item_bytes inside
// an update is ITEM_TOO_LARGE, anything else the function's store error (store_failure).
Outcome write_failure(const char* error_code, std::string_view function_id, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const ItemTooLarge& e) {
    return Outcome::failure(kTooLarge, e.what());
  } catch (...) {
  }
  return store_failure(error_code, function_id, error);
}

// Runs one call: decodes its input and runs `def.body`; failures before an answer are answered.
void run_call(const ServicePtr& service, const FunctionDef& def, const InProcessCall& call, const Completion& done) {
  auto answered = std::make_shared<bool>(false);
  Completion once = [done, answered](Outcome o) {
    *answered = true;
    done(std::move(o));
  };
  const std::string id = def.id;
  std::optional<Outcome> failure;
  try {
    FunctionInput input(call.data);
    def.body(service, call, input, once);
  } catch (const InputError& e) {
    failure = Outcome::failure(codes::kDeserializationError, "Failed to deserialize input for " + id + ": " + e.what());
  } catch (const update_ops::ParseError& e) {
    failure = Outcome::failure(codes::kDeserializationError, "Failed to deserialize input for " + id + ": " + e.what());
  } catch (const std::exception&) {  // ItemTooLarge; KvStoreError and the like: the store failed
    failure = write_failure(def.error_code, id, std::current_exception());
  }
  if (failure && !*answered) done(std::move(*failure));
}

// Runs on the thread that read the call: with a remote store, the round trip is the store's
// asynchronous form, and the answer is sent from its completion (no thread waits).
AsyncFunctionHandler make_handler(const ServicePtr& service, const FunctionDef& def) {
  return [service, def](const InProcessCall& call, Completion done) { run_call(service, def, call, done); };
}

// A write on the store: starts the store's operation and, once it is done, fills the change and
// answers.
using StoreWrite = std::function<void(StreamStore&, const std::shared_ptr<Change>&, Completion)>;

// Runs a writing op through the backend, answers, then publishes what changed.
void write_through(const ServicePtr& service, std::string_view op, const Address& a, const InProcessCall& call,
                   const char* error_code, const StoreWrite& builtin, Completion done) {
  auto change = std::make_shared<Change>();
  // Set before the completion can run: a remote answer may come before run_backend returns.
  change->announced = service->remote_announces(a.stream) &&
                      !service->engine().registry().find_function("stream::" + std::string(op) + "(" + a.stream + ")");
  service->run_backend(
      op, a.stream, call.data, error_code,
      [&](StreamStore& store, Completion answer) {
        change->from_store = true;
        builtin(store, change, [change, publishes = store.publishes_changes(), answer = std::move(answer)](Outcome o) {
          change->announced = publishes;
          answer(std::move(o));
        });
      },
      [service, op = std::string(op), a, change, done = std::move(done), traceparent = call.traceparent](Outcome outcome) {
        if (outcome.ok() && !change->from_store) read_custom_change(op, outcome.result, *change);
        const bool ok = outcome.ok();
        done(std::move(outcome));
        if (!ok || !change->type) return;
        try {
          service->publish(a.stream, a.group, a.item, stream_event(change->type, change->data), traceparent,
                           change->announced);
        } catch (const std::exception& e) {  // redis: the custom backend wrote, the sockets cannot hear of it
          spdlog::warn("iii-stream: the {} of {}/{}/{} was not announced: {}", op, a.stream, a.group, a.item, e.what());
        }
      });
}

void set_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput& in, Completion done) {
  const Address a = item_address(in);
  std::string text = json_text::serialize(in.required("data"));
  const size_t limit = service->config()->max_item_bytes;
  if (text.size() > limit) throw ItemTooLarge(too_large_message(text.size(), limit));
  write_through(service, "set", a, call, "STREAM_SET_ERROR",
                [&](StreamStore& store, const std::shared_ptr<Change>& change, Completion answer) {
                  store.set_async(a.stream, a.group, a.item, text,
                                  [text, change, answer = std::move(answer)](std::exception_ptr e,
                                                                             std::optional<std::string> previous) {
                                    if (e) return answer(write_failure("STREAM_SET_ERROR", "stream::set", e));
                                    FrameWriter w(32 + text.size() + (previous ? previous->size() : 0));
                                    w.raw("old_value", or_null(previous)).raw("new_value", text);
                                    *change = Change{previous ? "update" : "create", text, true};
                                    answer(Outcome::success(w.finish()));
                                  });
                },
                std::move(done));
}

void update_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput& in, Completion done) {
  const Address a = item_address(in);
  auto ops = std::make_shared<const std::vector<update_ops::Op>>(update_ops::parse(in.required("ops")));
  const size_t limit = service->config()->max_item_bytes;
  // Written by the update's function (which may run more than once, on the store's thread), read
  // once the update is done: the last run is the one stored.
  auto errors = std::make_shared<std::vector<update_ops::OpError>>();
  KvUpdateFn fn = [ops, errors, limit](const std::optional<std::string>& current) -> std::optional<std::string> {
    std::optional<json::value> value;
    if (current) {
      value = json_text::parse(*current);
      if (!value) throw KvStoreError("the stored item is not valid JSON");
    }
    update_ops::Result r = update_ops::apply(std::move(value), *ops);
    *errors = std::move(r.errors);
    std::string text = json_text::serialize(r.value);
    if (text.size() > limit) throw ItemTooLarge(too_large_message(text.size(), limit));
    return text;
  };
  write_through(service, "update", a, call, "STREAM_UPDATE_ERROR",
                [&](StreamStore& store, const std::shared_ptr<Change>& change, Completion answer) {
                  store.update_async(a.stream, a.group, a.item, fn,
                                     [errors, change, answer = std::move(answer)](std::exception_ptr e, KvUpdate u) {
                                       if (e) return answer(write_failure("STREAM_UPDATE_ERROR", "stream::update", e));
                                       FrameWriter w;
                                       w.raw("old_value", or_null(u.old_value)).raw("new_value", or_null(u.new_value));
                                       if (!errors->empty())
                                         w.raw("errors", json_text::serialize(update_ops::errors_to_json(*errors)));
                                       // Announced even when some ops failed: the ops that applied were written.
                                       *change = Change{u.old_value ? "update" : "create", or_null(u.new_value), true};
                                       answer(Outcome::success(w.finish()));
                                     });
                },
                std::move(done));
}

void delete_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput& in, Completion done) {
  const Address a = item_address(in);
  write_through(service, "delete", a, call, "STREAM_DELETE_ERROR",
                [&](StreamStore& store, const std::shared_ptr<Change>& change, Completion answer) {
                  store.remove_async(a.stream, a.group, a.item,
                                     [change, answer = std::move(answer)](std::exception_ptr e,
                                                                          std::optional<std::string> removed) {
                                       if (e) return answer(write_failure("STREAM_DELETE_ERROR", "stream::delete", e));
                                       if (removed) *change = Change{"delete", *removed, true};  // announced only if it existed
                                       answer(Outcome::success(FrameWriter().raw("old_value", or_null(removed)).finish()));
                                     });
                },
                std::move(done));
}

void get_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput& in, Completion done) {
  const Address a = item_address(in);
  service->read_item(a.stream, a.group, a.item, call.data, std::move(done));
}

void list_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput& in, Completion done) {
  const Address a = group_address(in);
  service->read_group(a.stream, a.group, call.data, std::move(done));
}

void list_groups_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput& in, Completion done) {
  const std::string stream = name_field(in, "stream_name");
  service->run_backend(
      "list_groups", stream, call.data, "STREAM_LIST_GROUPS_ERROR",
      [&](StreamStore& store, Completion answer) {
        store.list_groups_async(stream, [answer = std::move(answer)](std::exception_ptr e, std::vector<std::string> groups) {
          if (e) return answer(store_failure("STREAM_LIST_GROUPS_ERROR", "stream::list_groups", e));
          answer(Outcome::success(json_string_array(groups)));
        });
      },
      std::move(done));
}

void list_all_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput&, Completion done) {
  if (std::shared_ptr<RemoteEngine> remote = service->remote())
    return remote->call("stream::list_all", call.data, kBridgeCallTimeout, std::move(done));
  std::shared_ptr<StreamStore> store = service->store();
  if (!store) return done(Outcome::failure("STREAM_LIST_ALL_ERROR", "the stream store is not open"));
  store->list_all_async([done = std::move(done)](std::exception_ptr e, std::vector<StreamStore::StreamGroups> all) {
    if (e) return done(store_failure("STREAM_LIST_ALL_ERROR", "stream::list_all", e));
    std::string streams = "[";
    for (const StreamStore::StreamGroups& s : all) {
      if (streams.size() > 1) streams += ',';
      streams += FrameWriter().string("id", s.stream).raw("groups", json_string_array(s.groups)).finish();
    }
    streams += ']';
    done(Outcome::success(FrameWriter().raw("stream", streams).number("count", static_cast<long long>(all.size())).finish()));
  });
}

void send_body(const ServicePtr& service, const InProcessCall& call, const FunctionInput& in, Completion done) {
  const Address a = group_address(in);
  const std::optional<std::string> id = in.optional_string("id");
  const std::string type = in.required_string("type");
  const std::string text = json_text::serialize(in.required("data"));
  const size_t limit = service->config()->max_item_bytes;
  if (text.size() > limit) throw ItemTooLarge(too_large_message(text.size(), limit));
  // Nothing is stored: the custom event only goes out. Through this engine's hub, once the caller
  // has its answer, as every change; through Redis, Redis must take it before the answer says it
  // went out (else the send answers the error).
  const std::string event = FrameWriter().string("type", "event").raw("event", stream_event(type, text)).finish();
  if (std::shared_ptr<RemoteEngine> remote = service->remote()) {
    // The remote engine's `stream` trigger brings it to the sockets here (stream_bridge.h), when
    // the stream is watched.
    const bool announced = service->remote_announces(a.stream);
    return remote->call("stream::send", call.data, kBridgeCallTimeout,
                        [service, a, id, event, announced, done = std::move(done), traceparent = call.traceparent](Outcome o) {
                          const bool ok = o.ok();
                          done(std::move(o));
                          if (ok) service->publish(a.stream, a.group, id, event, traceparent, announced);
                        });
  }
  if (service->changes_through_redis()) {
    return service->publish_async(a.stream, a.group, id, event, call.traceparent,
                                  [done = std::move(done)](std::exception_ptr e) {
                                    done(e ? store_failure("STREAM_SEND_ERROR", "stream::send", e) : Outcome::success("null"));
                                  });
  }
  done(Outcome::success("null"));
  service->publish(a.stream, a.group, id, event, call.traceparent);
}

}  // namespace

void add_stream_functions(InProcessWorker& worker, const std::shared_ptr<StreamService>& service) {
  const FunctionDef defs[] = {
      {"stream::set", "Set an item of a stream group", "STREAM_SET_ERROR", set_body},
      {"stream::get", "Get an item of a stream group", "STREAM_GET_ERROR", get_body},
      {"stream::delete", "Delete an item of a stream group", "STREAM_DELETE_ERROR", delete_body},
      {"stream::list", "List the items of a stream group", "STREAM_GET_GROUP_ERROR", list_body},
      {"stream::list_groups", "List the groups of a stream", "STREAM_LIST_GROUPS_ERROR", list_groups_body},
      {"stream::list_all", "List every stream and its groups", "STREAM_LIST_ALL_ERROR", list_all_body},
      {"stream::send", "Send a custom event to a stream group", "STREAM_SEND_ERROR", send_body},
      {"stream::update", "Apply update operations to an item", "STREAM_UPDATE_ERROR", update_body},
  };
  for (const FunctionDef& def : defs)
    worker.add_function(FunctionSpec{def.id, def.description, {}, {}, {}}, make_handler(service, def));
}

}  // namespace iii
