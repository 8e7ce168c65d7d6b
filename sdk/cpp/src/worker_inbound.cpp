// Engine → worker frames: results of our calls, calls to our functions, and the provider side of
// our trigger types. Runs on the I/O thread; user code is handed to the pools.
#include <boost/json.hpp>
#include <cstdio>
#include <functional>

#include "wire/ws_codec.h"
#include "worker_impl.h"

namespace iii {
namespace {

std::string string_field(const std::optional<std::string_view>& field) {
  return field ? std::string(*field) : std::string();
}

void report_bad_payload(const char* field, std::string_view text) {
  std::fprintf(stderr, "[iii] ignoring a frame whose \"%s\" is not valid JSON: %.200s\n", field,
               std::string(text.substr(0, 200)).c_str());
}

}  // namespace

void Worker::Impl::on_message(std::uint64_t generation, std::string_view text) {
  detail::InboundFrame frame;
  // The WebSocket reader leaves padding after each message: the frame is read where it lies.
  if (!detail::read_inbound_frame(text, frame, net::ws::kMessagePadding)) {
    std::fprintf(stderr, "[iii] ignoring a frame that is not a JSON object: %s\n", std::string(text.substr(0, 200)).c_str());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (generation != generation_) return;  // a late frame from a connection we already left
  }
  const std::string_view type = frame.type.value_or(std::string_view());
  if (type == "invocationresult") {
    handle_invocation_result(frame, text);
  } else if (type == "invokefunction") {
    handle_invoke(generation, frame, text);
  } else if (type == "workerregistered") {
    {
      std::lock_guard lock(mutex_);
      worker_id_ = string_field(frame.worker_id);
      reattach_token_ = string_field(frame.reattach_token);
      registered_ = true;
      last_error_.clear();
      state_changed_.notify_all();
    }
    // In order with the trigger callbacks, off the I/O thread.
    if (options_.on_connected)
      trigger_callbacks_.post([self = shared_from_this()] { self->options_.on_connected(); });
  } else if (type == "registertrigger") {
    TriggerConfig binding{string_field(frame.id), string_field(frame.trigger_type), string_field(frame.function_id),
                          nullptr, nullptr};
    if (!detail::parse_raw_value(frame.config, binding.config)) return report_bad_payload("config", text);
    if (!detail::parse_raw_value(frame.metadata, binding.metadata)) return report_bad_payload("metadata", text);
    handle_register_trigger(generation, std::move(binding));
  } else if (type == "unregistertrigger") {
    handle_unregister_trigger(string_field(frame.id), string_field(frame.trigger_type));
  } else if (type == "triggerregistrationresult") {
    // Only errors are ever sent to a binder (docs/protocol.md §2.9); the SDK can only report them.
    if (frame.error) {
      json::value error;
      if (!detail::parse_raw_value(frame.error, error)) return report_bad_payload("error", text);
      auto body = detail::parse_error_body(error);
      std::fprintf(stderr, "[iii] Trigger registration failed for \"%s\" (%s): %s\n",
                   string_field(frame.id).c_str(), string_field(frame.trigger_type).c_str(), body.message.c_str());
    }
  } else if (type == "ping") {
    send_reply(generation, detail::pong_frame());
  }
  // Anything else (pong, error, registrationrejected, unknown types) needs no action.
}

void Worker::Impl::handle_invocation_result(const detail::InboundFrame& frame, std::string_view text) {
  // The error is read here; the result stays raw text until whoever waits for it parses it
  // (complete_call). A malformed error is ignored (the call times out), as the whole frame used to be.
  json::value error;
  if (!detail::parse_raw_value(frame.error, error)) return report_bad_payload("error", text);
  PendingCalls::node_type call;
  {
    std::lock_guard lock(mutex_);
    if (auto it = pending_.find(frame.invocation_id.value_or(std::string_view())); it != pending_.end()) {
      call = pending_.extract(it);
    }
  }
  if (call.empty()) return;  // timed out already: the late answer is dropped
  if (!error.is_null()) {
    auto body = detail::parse_error_body(error);
    complete_call(call.mapped(), std::nullopt, InvocationError(body.code, body.message, body.stacktrace));
  } else {
    complete_call(call.mapped(), frame.result, std::nullopt);
  }
}

void Worker::Impl::handle_invoke(std::uint64_t generation, const detail::InboundFrame& frame,
                                 std::string_view text) {
  // The payload is parsed on the handler's thread, not here: the I/O thread reads for every call
  // of this connection, and a value allocated here and freed there costs glibc its slow path.
  std::optional<std::string> data;
  if (frame.data) data.emplace(*frame.data);
  std::string function_id = string_field(frame.function_id);
  std::optional<std::string> invocation_id;
  if (frame.invocation_id) invocation_id.emplace(*frame.invocation_id);
  std::shared_ptr<const FunctionHandler> handler;
  std::shared_ptr<const RawFunctionHandler> raw_handler;
  bool run_inline = false;
  {
    std::lock_guard lock(mutex_);
    if (auto it = functions_.find(function_id); it != functions_.end()) {
      handler = it->second.handler;
      raw_handler = it->second.raw_handler;
      run_inline = it->second.options.run_inline;
    }
  }
  if (!handler && !raw_handler) {
    if (invocation_id) {
      detail::WireError error{"function_not_found", "Function not found", std::nullopt};
      send_reply(generation, detail::invocation_result_frame(*invocation_id, function_id, nullptr, &error));
    }
    return;
  }
  invocations_running_.fetch_add(1, std::memory_order_relaxed);
  if (run_inline) {
    Invocation{shared_from_this(), generation,           std::move(handler), std::move(raw_handler),
               std::move(invocation_id), std::move(function_id), std::move(data)}();
    return;
  }
  std::function<void()> task = Invocation{shared_from_this(),       generation,
                                           std::move(handler),       std::move(raw_handler),
                                           std::move(invocation_id), std::move(function_id),
                                           std::move(data)};
  const auto posted = handlers_.post(std::move(task));
  if (posted == detail::HandlerPool::PostResult::kAccepted) return;
  invocations_running_.fetch_sub(1, std::memory_order_relaxed);
  if (posted != detail::HandlerPool::PostResult::kFull) return;
  // Refused: the task came back untouched, so its ids answer the caller without copies made
  // up front on every call.
  const auto& refused = *task.target<Invocation>();
  if (refused.invocation_id) {
    detail::WireError error{"worker_overloaded",
                            "Too many calls waiting for a handler thread (max_queued_invocations)", std::nullopt};
    send_reply(generation,
               detail::invocation_result_frame(*refused.invocation_id, refused.function_id, nullptr, &error));
  }
}

void Worker::Impl::Invocation::operator()() {
  std::optional<json::value> result;  // a handler's answer
  std::string result_json;             // a raw handler's (empty: no result)
  std::optional<detail::WireError> error;
  try {
    if (raw_handler) {
      std::optional<std::string> text = (*raw_handler)(data ? std::string_view(*data) : std::string_view("null"));
      if (text && !detail::is_json_value(*text))
        throw std::invalid_argument("the handler's result is not one valid JSON value");
      if (text) result_json = std::move(*text);
    } else {
      json::value payload;
      if (!detail::parse_raw_value(data, payload)) throw std::invalid_argument("the call's data is not valid JSON");
      result = (*handler)(std::move(payload));
    }
  } catch (const InvocationError& e) {  // the handler chose the code (e.g. passing on a failure)
    error = detail::WireError{e.code(), e.message(), e.stacktrace()};
  } catch (const std::exception& e) {
    error = detail::WireError{"invocation_failed", e.what(), std::nullopt};
  } catch (...) {
    error = detail::WireError{"invocation_failed", "unknown exception", std::nullopt};
  }
  const bool others_running = self->invocations_running_.fetch_sub(1, std::memory_order_relaxed) > 1;
  if (!invocation_id) return;  // nobody waits for this one
  std::string& frame = detail::frame_buffer();
  if (raw_handler && !error) {
    detail::write_raw_invocation_result_frame(frame, *invocation_id, function_id, result_json);
  } else {
    detail::write_invocation_result_frame(frame, *invocation_id, function_id, result ? &*result : nullptr,
                                          error ? &*error : nullptr);
  }
  self->send_reply(generation, frame, others_running ? net::WsClient::Flush::kSoon : net::WsClient::Flush::kNow);
  detail::release_frame_buffer(frame);
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
