// Calls made by this worker: trigger() and its asynchronous forms, the table of calls waiting for
// an answer, their deadlines and how each one ends (the contract is in include/iii/iii.h).
#include <boost/asio/post.hpp>
#include <cstdio>

#include "wire/uuid.h"
#include "worker_impl.h"

namespace iii {

namespace {
InvocationError shutting_down() { return InvocationError("SHUTDOWN", "worker is shutting down"); }
InvocationError outbox_full() {
  return InvocationError("QUEUE_FULL", "outgoing queue is full while disconnected");
}
// What a call sends as its data: payload_json's text when given (null: `payload` is sent). Sets
// `error` when that text is not one JSON value.
const std::string* payload_text(const TriggerRequest& request, std::optional<InvocationError>& error) {
  if (!request.payload_json) return nullptr;
  if (!detail::is_json_value(*request.payload_json))
    error = InvocationError("INVALID_PAYLOAD", "payload_json is not one valid JSON value");
  return &*request.payload_json;
}
}  // namespace

std::future<json::value> Worker::Impl::trigger_async(TriggerRequest request) {
  auto promise = std::make_shared<std::promise<json::value>>();
  std::future<json::value> result = promise->get_future();
  trigger_then(std::move(request), [promise](json::value value, std::optional<InvocationError> error) {
    if (error) {
      promise->set_exception(std::make_exception_ptr(std::move(*error)));
    } else {
      promise->set_value(std::move(value));
    }
  });
  return result;
}

std::optional<InvocationError> Worker::Impl::send_void_call(const TriggerRequest& request) {
  std::optional<InvocationError> invalid;
  const std::string* data_json = payload_text(request, invalid);
  if (invalid) return invalid;
  auto frame = detail::invoke_function_frame(nullptr, request.function_id, request.payload, request.action,
                                             request.metadata, data_json);
  if (send_now_or_queue(std::move(frame), {})) return std::nullopt;
  std::unique_lock lock(mutex_);
  return stopping_ ? shutting_down() : outbox_full();
}

void Worker::Impl::trigger_then(TriggerRequest request, TriggerCallback callback) {
  if (std::holds_alternative<Void>(request.action)) return callback(nullptr, send_void_call(request));
  PendingCall call;
  call.callback = std::move(callback);
  start_call(request, std::move(call));
}

void Worker::Impl::trigger_raw_then(TriggerRequest request, RawTriggerCallback callback) {
  if (std::holds_alternative<Void>(request.action)) return callback("null", send_void_call(request));
  PendingCall call;
  call.raw_callback = std::move(callback);
  start_call(request, std::move(call));
}

json::value Worker::Impl::trigger_sync(TriggerRequest request) {
  if (std::holds_alternative<Void>(request.action)) {
    return trigger_async(std::move(request)).get();  // returns at once: nothing to wait for
  }
  if (std::this_thread::get_id() == io_thread_id_) {
    throw InvocationError("WOULD_DEADLOCK",
                          "a blocking trigger() on the worker's I/O thread (a run_inline handler or a trigger_then "
                          "callback) could never read its answer; use trigger_then()");
  }
  const auto timeout = request.timeout.value_or(options_.invocation_timeout);
  auto wait = std::make_shared<SyncWait>();
  PendingCall call;
  call.waiter = wait;
  start_call(request, std::move(call));
  // The I/O thread's deadline sweep answers first; this bound only guards against a stalled I/O thread.
  if (!wait->done.wait_for(timeout + std::chrono::seconds(5))) {
    throw InvocationError("TIMEOUT", "invocation timed out after " + std::to_string(timeout.count()) + "ms");
  }
  if (wait->error) throw std::move(*wait->error);
  json::value result;
  if (!detail::parse_raw_value(wait->result, result)) {
    throw InvocationError("INVALID_RESULT", "the engine sent a result that is not valid JSON");
  }
  return result;
}

void Worker::Impl::start_call(TriggerRequest& request, PendingCall call) {
  std::optional<InvocationError> invalid;
  const std::string* data_json = payload_text(request, invalid);
  if (invalid) return complete_call(call, std::nullopt, std::move(invalid));
  std::string id = new_uuid();
  std::string& frame = detail::frame_buffer();
  detail::write_invoke_function_frame(frame, &id, request.function_id, request.payload, request.action,
                                      request.metadata, data_json);
  bool start_sweep = false;
  bool others_in_flight = false;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      return complete_call(call, std::nullopt, shutting_down());
    }
    call.function_id = request.function_id;
    call.timeout = request.timeout.value_or(options_.invocation_timeout);
    call.deadline = std::chrono::steady_clock::now() + call.timeout;
    pending_.emplace(id, std::move(call));
    start_sweep = !sweep_armed_;  // under the lock: the sweep stops only when it saw no call
    sweep_armed_ = true;
    others_in_flight = pending_.size() > 1;
  }
  if (start_sweep) boost::asio::post(io_, [this] { sweep_deadlines(); });
  // A lone call leaves at once; with others in flight, answers keep arriving and more calls follow
  // them, so the frames of this burst leave in one write of the I/O thread.
  const auto flush = others_in_flight ? net::WsClient::Flush::kSoon : net::WsClient::Flush::kNow;
  const bool sent = send_now_or_queue(frame, id, flush);
  detail::release_frame_buffer(frame);
  if (!sent) fail_call(id, outbox_full());
}

void Worker::Impl::complete_call(PendingCall& call, std::optional<std::string_view> result,
                                 std::optional<InvocationError> error) {
  if (call.waiter) {
    auto& wait = *call.waiter;
    if (error) {
      wait.error = std::move(error);
    } else if (result) {
      wait.result.emplace(*result);
    }
    wait.done.set();  // the caller reads result and error only after this
    return;
  }
  // The callback is user code, run on the I/O thread (or wherever the call ended): what it throws
  // must not cut short the loop that ends the other calls, nor the reconnect that follows.
  try {
    if (call.raw_callback) {
      if (error) return call.raw_callback("null", std::move(error));
      return call.raw_callback(result ? *result : std::string_view("null"), std::nullopt);
    }
    if (error) return call.callback(nullptr, std::move(error));
    json::value value;
    if (!detail::parse_raw_value(result, value)) {
      return call.callback(nullptr,
                           InvocationError("INVALID_RESULT", "the engine sent a result that is not valid JSON"));
    }
    call.callback(std::move(value), std::nullopt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[iii] a trigger_then callback for \"%s\" threw: %s\n", call.function_id.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "[iii] a trigger_then callback for \"%s\" threw\n", call.function_id.c_str());
  }
}

void Worker::Impl::sweep_deadlines() {
  std::vector<PendingCalls::node_type> expired;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      auto next = std::next(it);
      if (it->second.deadline <= now) expired.push_back(pending_.extract(it));
      it = next;
    }
    if (pending_.empty()) {
      sweep_armed_ = false;  // the next call starts it again
    } else {
      deadline_sweep_.expires_after(kDeadlineSweep);
      deadline_sweep_.async_wait([this](boost::system::error_code ec) {
        if (!ec) sweep_deadlines();
      });
    }
  }
  for (auto& call : expired) {
    const auto ms = std::to_string(call.mapped().timeout.count());
    complete_call(call.mapped(), std::nullopt, InvocationError("TIMEOUT", "invocation timed out after " + ms + "ms"));
  }
}

void Worker::Impl::fail_call(const std::string& invocation_id, InvocationError error) {
  PendingCalls::node_type call;
  {
    std::lock_guard lock(mutex_);
    call = pending_.extract(invocation_id);
  }
  if (call.empty()) return;
  complete_call(call.mapped(), std::nullopt, std::move(error));
}

void Worker::Impl::fail_all_calls(const InvocationError& error) {
  PendingCalls calls;
  {
    std::lock_guard lock(mutex_);
    calls.swap(pending_);
  }
  for (auto& [id, call] : calls) complete_call(call, std::nullopt, error);
}

}  // namespace iii
