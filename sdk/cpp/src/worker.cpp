// iii::Worker: the facade, the connection lifecycle (connect, replay, backoff, shutdown) and the
// outgoing side. Inbound frames are handled in worker_inbound.cpp.
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstdlib>

#include "wire/uuid.h"
#include "worker_impl.h"

namespace iii {
namespace {

std::string resolve_url(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* env = std::getenv("III_URL");
  return env && *env ? env : kDefaultEngineUrl;
}

// Like the Node SDK: a worker without a name is "<hostname>:<pid>".
std::string resolve_name(const std::string& configured) {
  if (!configured.empty()) return configured;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "worker");
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace

InvocationError::InvocationError(std::string code, std::string message, std::optional<std::string> stacktrace)
    : std::runtime_error(code + ": " + message),
      code_(std::move(code)),
      message_(std::move(message)),
      stacktrace_(std::move(stacktrace)) {}

// ---- Impl: lifecycle -------------------------------------------------------------------------

Worker::Impl::Impl(WorkerOptions options)
    : options_(std::move(options)),
      url_(resolve_url(options_.url)),
      worker_name_(resolve_name(options_.name)),
      work_(io_.get_executor()),
      reconnect_timer_(io_),
      deadline_sweep_(io_),
      handlers_(options_.handler_threads, "iii handlers", options_.max_queued_invocations),
      trigger_callbacks_(1, "iii trigger callbacks") {}

Worker::Impl::~Impl() { shutdown(); }

void Worker::Impl::start() {
  io_thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[iii] unexpected error on the I/O thread: %s\n", e.what());
      }
    }
  });
  boost::asio::post(io_, [this] { connect(); });
}

void Worker::Impl::connect() {
  std::shared_ptr<net::WsClient> client;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    std::uint64_t generation = ++generation_;
    ready_ = registered_ = false;
    net::WsClientOptions ws_options;
    ws_options.connect_timeout = options_.connect_timeout;
    ws_options.max_queued_frames = 1u << 16;  // the real bound is outbox_ / the caller's patience
    client = net::WsClient::create(
        io_, ws_options,
        {[this, generation] { on_open(generation); },
         [this, generation](std::string message) { on_message(generation, message); },
         [this, generation](std::string reason) { on_close(generation, std::move(reason)); }});
    client_ = client;
  }
  client->connect(url_);
}

// Protocol order (docs/protocol.md §1.5): reattach, registrations, queued frames, worker metadata.
void Worker::Impl::on_open(std::uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (generation != generation_ || stopping_ || !client_) return;
  failed_attempts_ = 0;
  auto& ws = *client_;
  if (!worker_id_.empty()) ws.send(detail::reattach_frame(worker_id_, reattach_token_));
  for (const auto& [id, type] : trigger_types_) {
    ws.send(detail::register_trigger_type_frame(id, type.description, type.options));
  }
  for (const auto& [id, function] : functions_)
    ws.send(detail::register_function_frame(id, function.options, function.invocation));
  for (const auto& [id, trigger] : triggers_) ws.send(detail::register_trigger_frame(trigger));
  for (auto& queued : outbox_) {
    auto call = queued.invocation_id.empty() ? pending_.end() : pending_.find(queued.invocation_id);
    if (!queued.invocation_id.empty() && call == pending_.end()) continue;  // timed out meanwhile
    if (call != pending_.end()) call->second.sent = true;
    ws.send(std::move(queued.frame));
  }
  outbox_.clear();
  ws.send(detail::invoke_function_frame(nullptr, "engine::workers::register",
                                        detail::worker_metadata(worker_name_, options_.description), Void{},
                                        nullptr));
  ready_ = true;
}

void Worker::Impl::on_close(std::uint64_t generation, std::string reason) {
  bool was_ready, first_failure;
  std::vector<std::string> lost;
  {
    std::lock_guard lock(mutex_);
    if (generation != generation_) return;
    // The engine ends a closed connection's calls (it answers them on that connection only): one
    // that went out on it will never be answered. Calls still queued go out after the reconnect.
    for (const auto& [id, call] : pending_)
      if (call.sent) lost.push_back(id);
    was_ready = ready_;
    first_failure = failed_attempts_ == 0;
    client_.reset();
    ready_ = registered_ = false;
    if (!reason.empty()) last_error_ = reason;
    state_changed_.notify_all();
  }
  for (const std::string& id : lost)
    fail_call(id, InvocationError("CONNECTION_LOST", "the connection to the engine closed before the answer (" + reason + ")"));
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
  }
  // One line per outage, not one per retry.
  if (!options_.quiet && (was_ready || first_failure)) {
    if (was_ready) {
      std::fprintf(stderr, "[iii] lost the connection to %s (%s); reconnecting\n", url_.c_str(), reason.c_str());
    } else {
      std::fprintf(stderr, "[iii] %s; retrying\n", reason.c_str());
    }
  }
  schedule_reconnect();
}

std::chrono::milliseconds Worker::Impl::next_backoff() {
  int attempt;
  {
    std::lock_guard lock(mutex_);
    attempt = std::min(failed_attempts_++, 20);
  }
  double base = std::min<double>(double(options_.reconnect_initial_delay.count()) * double(1u << attempt),
                                 double(options_.reconnect_max_delay.count()));
  std::uniform_real_distribution<double> jitter(0.7, 1.3);
  return std::chrono::milliseconds(std::max<long long>(1, (long long)(base * jitter(jitter_random_))));
}

void Worker::Impl::schedule_reconnect() {
  reconnect_timer_.expires_after(next_backoff());
  reconnect_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) connect();
  });
}

void Worker::Impl::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = stopping_ = true;
    state_changed_.notify_all();
  }
  if (io_thread_.joinable() && io_thread_.get_id() != std::this_thread::get_id()) {
    boost::asio::post(io_, [this] {
      reconnect_timer_.cancel();
      deadline_sweep_.cancel();  // the calls still pending fail with SHUTDOWN below
      std::shared_ptr<net::WsClient> client;
      {
        std::lock_guard lock(mutex_);
        client = client_;
      }
      if (client) client->close();  // queued frames go out first, then the closing handshake
    });
    {
      std::unique_lock lock(mutex_);
      state_changed_.wait_for(lock, std::chrono::seconds(3), [&] { return client_ == nullptr; });
    }
    work_.reset();
    io_.stop();
    io_thread_.join();
  }
  fail_all_calls(InvocationError("SHUTDOWN", "worker is shutting down"));
  handlers_.shutdown(std::chrono::seconds(5));
  trigger_callbacks_.shutdown(std::chrono::seconds(5));
}

// ---- Impl: outgoing ----------------------------------------------------------------------------

bool Worker::Impl::send_now_or_queue(std::string frame, std::string invocation_id, net::WsClient::Flush flush) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  if (ready_ && client_ && client_->send(frame, flush)) {
    if (!invocation_id.empty())
      if (auto call = pending_.find(invocation_id); call != pending_.end()) call->second.sent = true;
    return true;
  }
  if (outbox_.size() >= options_.max_queued_messages) return false;
  outbox_.push_back({std::move(frame), std::move(invocation_id)});
  return true;
}

void Worker::Impl::send_registration_locked(std::string frame) {
  // While disconnected there is nothing to do: on_open replays the registries.
  if (ready_ && client_) client_->send(std::move(frame));
}

void Worker::Impl::send_reply(std::uint64_t generation, std::string frame, net::WsClient::Flush flush) {
  // The engine forgets a connection's invocations when it drops: a reply on a newer connection
  // would only be discarded, so it is not sent at all.
  std::lock_guard lock(mutex_);
  if (generation == generation_ && ready_ && client_) client_->send(std::move(frame), flush);
}

// ---- Impl: registrations -----------------------------------------------------------------------

void Worker::Impl::register_function(std::string id, FunctionHandler handler, FunctionOptions options) {
  std::lock_guard lock(mutex_);
  auto frame = detail::register_function_frame(id, options);
  functions_[std::move(id)] = {std::make_shared<const FunctionHandler>(std::move(handler)), std::move(options), nullptr};
  send_registration_locked(std::move(frame));
}

void Worker::Impl::register_http_function(std::string id, HttpInvocation invocation, FunctionOptions options) {
  std::lock_guard lock(mutex_);
  json::value object = detail::invocation_object(invocation);
  auto frame = detail::register_function_frame(id, options, object);
  functions_[std::move(id)] = {nullptr, std::move(options), std::move(object)};
  send_registration_locked(std::move(frame));
}

void Worker::Impl::unregister_function(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (functions_.erase(id)) send_registration_locked(detail::unregister_function_frame(id));
}

std::string Worker::Impl::register_trigger(TriggerRegistration registration) {
  TriggerConfig trigger{new_uuid(), std::move(registration.trigger_type), std::move(registration.function_id),
                        std::move(registration.config), std::move(registration.metadata)};
  std::lock_guard lock(mutex_);
  send_registration_locked(detail::register_trigger_frame(trigger));
  std::string id = trigger.id;
  triggers_[id] = std::move(trigger);
  return id;
}

void Worker::Impl::unregister_trigger(const std::string& trigger_id) {
  std::lock_guard lock(mutex_);
  auto it = triggers_.find(trigger_id);
  if (it == triggers_.end()) return;
  send_registration_locked(detail::unregister_trigger_frame(trigger_id, it->second.trigger_type));
  triggers_.erase(it);
}

void Worker::Impl::register_trigger_type(std::string id, std::string description, TriggerHandler handler,
                                         TriggerTypeOptions options) {
  std::lock_guard lock(mutex_);
  send_registration_locked(detail::register_trigger_type_frame(id, description, options));
  auto& entry = trigger_types_[std::move(id)];  // bindings survive a re-registration
  entry.description = std::move(description);
  entry.handler = std::make_shared<const TriggerHandler>(std::move(handler));
  entry.options = std::move(options);
}

void Worker::Impl::unregister_trigger_type(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (trigger_types_.erase(id)) send_registration_locked(detail::unregister_trigger_type_frame(id));
}

// ---- Impl: calls -------------------------------------------------------------------------------

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

void Worker::Impl::trigger_then(TriggerRequest request, TriggerCallback callback) {
  auto stopping_now = [this] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  if (std::holds_alternative<Void>(request.action)) {
    auto frame = detail::invoke_function_frame(nullptr, request.function_id, request.payload, request.action,
                                               request.metadata);
    if (send_now_or_queue(std::move(frame), {})) return callback(nullptr, std::nullopt);
    return callback(nullptr, stopping_now() ? InvocationError("SHUTDOWN", "worker is shutting down")
                                            : InvocationError("QUEUE_FULL", "outgoing queue is full while disconnected"));
  }

  std::string id = new_uuid();
  auto frame = detail::invoke_function_frame(&id, request.function_id, request.payload, request.action,
                                             request.metadata);
  bool start_sweep = false;
  bool others_in_flight = false;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      return callback(nullptr, InvocationError("SHUTDOWN", "worker is shutting down"));
    }
    auto& call = pending_[id];
    call.function_id = request.function_id;
    call.callback = std::move(callback);
    call.timeout = request.timeout.value_or(options_.invocation_timeout);
    call.deadline = std::chrono::steady_clock::now() + call.timeout;
    start_sweep = !sweep_armed_;  // under the lock: the sweep stops only when it saw no call
    sweep_armed_ = true;
    others_in_flight = pending_.size() > 1;
  }
  if (start_sweep) boost::asio::post(io_, [this] { sweep_deadlines(); });
  // A lone call leaves at once; with others in flight, answers keep arriving and more calls follow
  // them, so the frames of this burst leave in one write of the I/O thread.
  const auto flush = others_in_flight ? net::WsClient::Flush::kSoon : net::WsClient::Flush::kNow;
  if (!send_now_or_queue(std::move(frame), id, flush)) {
    fail_call(id, InvocationError("QUEUE_FULL", "outgoing queue is full while disconnected"));
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
    call.mapped().callback(nullptr, InvocationError("TIMEOUT", "invocation timed out after " +
                                                                   std::to_string(call.mapped().timeout.count()) + "ms"));
  }
}

void Worker::Impl::fail_call(const std::string& invocation_id, InvocationError error) {
  PendingCalls::node_type call;
  {
    std::lock_guard lock(mutex_);
    call = pending_.extract(invocation_id);
  }
  if (call.empty()) return;
  call.mapped().callback(nullptr, std::move(error));
}

void Worker::Impl::fail_all_calls(const InvocationError& error) {
  PendingCalls calls;
  {
    std::lock_guard lock(mutex_);
    calls.swap(pending_);
  }
  for (auto& [id, call] : calls) call.callback(nullptr, error);
}

// ---- Impl: state -------------------------------------------------------------------------------

bool Worker::Impl::connected() const {
  std::lock_guard lock(mutex_);
  return ready_ && registered_;
}

bool Worker::Impl::wait_connected(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  state_changed_.wait_for(lock, timeout, [&] { return (ready_ && registered_) || stopping_; });
  return ready_ && registered_;
}

std::string Worker::Impl::worker_id() const {
  std::lock_guard lock(mutex_);
  return worker_id_;
}

std::string Worker::Impl::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

// ---- Worker facade -----------------------------------------------------------------------------

namespace {
std::shared_ptr<Worker::Impl> make_impl(WorkerOptions options) {
#ifdef III_REQUIRES_AVX2
  // The frame reader was compiled for the build machine's AVX2 (CMake III_HOST_SIMD).
  if (!__builtin_cpu_supports("x86-64-v3") || !__builtin_cpu_supports("pclmul"))
    throw std::runtime_error("iii SDK: built for CPUs with AVX2 (x86-64-v3) and this one lacks it; "
                             "rebuild on this machine or configure with -DIII_HOST_SIMD=OFF");
#endif
  return std::make_shared<Worker::Impl>(std::move(options));
}
}  // namespace

Worker::Worker(WorkerOptions options) : impl_(make_impl(std::move(options))) { impl_->start(); }

Worker::~Worker() { shutdown(); }

void Worker::shutdown() { impl_->shutdown(); }

void Worker::register_function(std::string id, FunctionHandler handler, FunctionOptions options) {
  impl_->register_function(std::move(id), std::move(handler), std::move(options));
}
void Worker::register_http_function(std::string id, HttpInvocation invocation, FunctionOptions options) {
  impl_->register_http_function(std::move(id), std::move(invocation), std::move(options));
}
void Worker::unregister_function(const std::string& id) { impl_->unregister_function(id); }
std::string Worker::register_trigger(TriggerRegistration registration) {
  return impl_->register_trigger(std::move(registration));
}
void Worker::unregister_trigger(const std::string& trigger_id) { impl_->unregister_trigger(trigger_id); }
void Worker::register_trigger_type(std::string id, std::string description, TriggerHandler handler,
                                   TriggerTypeOptions options) {
  impl_->register_trigger_type(std::move(id), std::move(description), std::move(handler), std::move(options));
}
void Worker::unregister_trigger_type(const std::string& id) { impl_->unregister_trigger_type(id); }

json::value Worker::trigger(TriggerRequest request) {
  auto timeout = request.timeout.value_or(impl_->default_timeout());
  auto result = impl_->trigger_async(std::move(request));
  // The I/O thread's deadline sweep answers first; this bound only guards against a stalled I/O thread.
  if (result.wait_for(timeout + std::chrono::seconds(5)) != std::future_status::ready) {
    throw InvocationError("TIMEOUT", "invocation timed out after " + std::to_string(timeout.count()) + "ms");
  }
  return result.get();
}

json::value Worker::trigger(std::string function_id, json::value payload) {
  return trigger(TriggerRequest{.function_id = std::move(function_id), .payload = std::move(payload)});
}

std::future<json::value> Worker::trigger_async(TriggerRequest request) {
  return impl_->trigger_async(std::move(request));
}

void Worker::trigger_then(TriggerRequest request, TriggerCallback callback) {
  impl_->trigger_then(std::move(request), std::move(callback));
}

bool Worker::connected() const { return impl_->connected(); }
bool Worker::wait_connected(std::chrono::milliseconds timeout) const { return impl_->wait_connected(timeout); }
std::string Worker::worker_id() const { return impl_->worker_id(); }
std::string Worker::last_error() const { return impl_->last_error(); }
const std::string& Worker::url() const { return impl_->url(); }

}  // namespace iii
