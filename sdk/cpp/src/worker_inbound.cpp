// Engine → worker frames: results of our calls, calls to our functions, and the provider side of
// our trigger types. Runs on the I/O thread; user code is handed to the pools.
#include <boost/json.hpp>
#include <cstdio>

#include "worker_impl.h"

namespace iii {
namespace {

std::string string_field(const json::object& frame, const char* key) {
  const json::value* value = frame.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

json::value value_field(const json::object& frame, const char* key) {
  const json::value* value = frame.if_contains(key);
  return value ? *value : json::value(nullptr);
}

// Moves a (possibly large) payload out of a frame that is about to be dropped anyway.
json::value take_field(json::object& frame, const char* key) {
  json::value* value = frame.if_contains(key);
  return value ? std::move(*value) : json::value(nullptr);
}

}  // namespace

void Worker::Impl::on_message(std::uint64_t generation, const std::string& text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) {
    std::fprintf(stderr, "[iii] ignoring a frame that is not a JSON object: %.200s\n", text.c_str());
    return;
  }
  json::object& frame = parsed.get_object();
  {
    std::lock_guard lock(mutex_);
    if (generation != generation_) return;  // a late frame from a connection we already left
  }
  std::string type = string_field(frame, "type");
  if (type == "invocationresult") {
    handle_invocation_result(frame);
  } else if (type == "invokefunction") {
    handle_invoke(generation, frame);
  } else if (type == "workerregistered") {
    std::lock_guard lock(mutex_);
    worker_id_ = string_field(frame, "worker_id");
    reattach_token_ = string_field(frame, "reattach_token");
    registered_ = true;
    last_error_.clear();
    state_changed_.notify_all();
  } else if (type == "registertrigger") {
    handle_register_trigger(generation, TriggerConfig{string_field(frame, "id"), string_field(frame, "trigger_type"),
                                                      string_field(frame, "function_id"), value_field(frame, "config"),
                                                      value_field(frame, "metadata")});
  } else if (type == "unregistertrigger") {
    handle_unregister_trigger(string_field(frame, "id"), string_field(frame, "trigger_type"));
  } else if (type == "triggerregistrationresult") {
    // Only errors are ever sent to a binder (protocol.md §2.9); the SDK can only report them.
    if (const json::value* error = frame.if_contains("error"); error && !error->is_null()) {
      auto body = detail::parse_error_body(*error);
      std::fprintf(stderr, "[iii] Trigger registration failed for \"%s\" (%s): %s\n",
                   string_field(frame, "id").c_str(), string_field(frame, "trigger_type").c_str(),
                   body.message.c_str());
    }
  } else if (type == "ping") {
    send_reply(generation, detail::pong_frame());
  }
  // Anything else (pong, error, registrationrejected, unknown types) needs no action.
}

void Worker::Impl::handle_invocation_result(const json::object& frame) {
  std::unordered_map<std::string, PendingCall>::node_type call;
  {
    std::lock_guard lock(mutex_);
    call = pending_.extract(string_field(frame, "invocation_id"));
  }
  if (call.empty()) return;  // timed out already: the late answer is dropped
  if (call.mapped().timer) call.mapped().timer->cancel();
  const json::value* error = frame.if_contains("error");
  if (error && !error->is_null()) {
    auto body = detail::parse_error_body(*error);
    call.mapped().promise.set_exception(
        std::make_exception_ptr(InvocationError(body.code, body.message, body.stacktrace)));
  } else {
    call.mapped().promise.set_value(value_field(frame, "result"));
  }
}

void Worker::Impl::handle_invoke(std::uint64_t generation, json::object& frame) {
  std::string function_id = string_field(frame, "function_id");
  std::optional<std::string> invocation_id;
  if (const json::value* id = frame.if_contains("invocation_id"); id && id->is_string()) {
    invocation_id = std::string(id->get_string());
  }
  std::shared_ptr<const FunctionHandler> handler;
  {
    std::lock_guard lock(mutex_);
    if (auto it = functions_.find(function_id); it != functions_.end()) handler = it->second.handler;
  }
  if (!handler) {
    if (invocation_id) {
      detail::WireError error{"function_not_found", "Function not found", std::nullopt};
      send_reply(generation, detail::invocation_result_frame(*invocation_id, function_id, nullptr, &error));
    }
    return;
  }
  const auto posted = handlers_.post([self = shared_from_this(), generation, handler, invocation_id, function_id,
                  data = take_field(frame, "data")]() mutable {
    std::optional<json::value> result;
    std::optional<detail::WireError> error;
    try {
      result = (*handler)(std::move(data));
    } catch (const std::exception& e) {
      error = detail::WireError{"invocation_failed", e.what(), std::nullopt};
    } catch (...) {
      error = detail::WireError{"invocation_failed", "unknown exception", std::nullopt};
    }
    if (!invocation_id) return;  // nobody waits for this one
    self->send_reply(generation, detail::invocation_result_frame(*invocation_id, function_id,
                                                                 result ? &*result : nullptr,
                                                                 error ? &*error : nullptr));
  });
  if (posted == detail::HandlerPool::PostResult::kFull && invocation_id) {
    detail::WireError error{"worker_overloaded",
                            "Too many calls waiting for a handler thread (max_queued_invocations)", std::nullopt};
    send_reply(generation, detail::invocation_result_frame(*invocation_id, function_id, nullptr, &error));
  }
}

void Worker::Impl::handle_register_trigger(std::uint64_t generation, TriggerConfig binding) {
  trigger_callbacks_.post([self = shared_from_this(), generation, binding = std::move(binding)] {
    std::shared_ptr<const TriggerHandler> handler;
    {
      std::lock_guard lock(self->mutex_);
      auto it = self->trigger_types_.find(binding.trigger_type);
      if (it != self->trigger_types_.end()) handler = it->second.handler;
    }
    std::optional<detail::WireError> error;
    if (!handler) {
      error = detail::WireError{"trigger_type_not_found", "Trigger type not found", std::nullopt};
    } else {
      try {
        if (handler->register_trigger) handler->register_trigger(binding);
      } catch (const std::exception& e) {
        error = detail::WireError{"trigger_registration_failed", e.what(), std::nullopt};
      } catch (...) {
        error = detail::WireError{"trigger_registration_failed", "unknown exception", std::nullopt};
      }
    }
    if (!error) {
      std::lock_guard lock(self->mutex_);
      auto it = self->trigger_types_.find(binding.trigger_type);
      if (it != self->trigger_types_.end()) it->second.bindings[binding.id] = binding;
    }
    self->send_reply(generation, detail::trigger_registration_result_frame(binding, error ? &*error : nullptr));
  });
}

void Worker::Impl::handle_unregister_trigger(const std::string& id, const std::string& trigger_type) {
  trigger_callbacks_.post([self = shared_from_this(), id, trigger_type] {
    TriggerConfig binding{id, trigger_type, {}, nullptr, nullptr};
    std::shared_ptr<const TriggerHandler> handler;
    {
      std::lock_guard lock(self->mutex_);
      auto type = self->trigger_types_.find(trigger_type);
      if (type == self->trigger_types_.end()) return;
      handler = type->second.handler;
      // The engine sends only id and type: hand the provider the whole binding it activated.
      if (auto known = type->second.bindings.find(id); known != type->second.bindings.end()) {
        binding = std::move(known->second);
        type->second.bindings.erase(known);
      }
    }
    if (!handler->unregister_trigger) return;
    try {
      handler->unregister_trigger(binding);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "[iii] unregister_trigger for \"%s\" (%s) failed: %s\n", id.c_str(), trigger_type.c_str(),
                   e.what());
    } catch (...) {
      std::fprintf(stderr, "[iii] unregister_trigger for \"%s\" (%s) failed\n", id.c_str(), trigger_type.c_str());
    }
  });
}

}  // namespace iii
