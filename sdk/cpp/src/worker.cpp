// iii::Worker: the facade, the connection lifecycle (connect, replay, backoff, shutdown) and the
// outgoing side. Calls are made in worker_calls.cpp, inbound frames handled in worker_inbound.cpp.
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
  io_thread_id_ = io_thread_.get_id();
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
         [this, generation](std::string_view message) { on_message(generation, message); },
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

bool Worker::Impl::send_now_or_queue(std::string_view frame, std::string invocation_id, net::WsClient::Flush flush) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  if (ready_ && client_ && client_->send(frame, flush)) {
    if (!invocation_id.empty())
      if (auto call = pending_.find(invocation_id); call != pending_.end()) call->second.sent = true;
    return true;
  }
  if (outbox_.size() >= options_.max_queued_messages) return false;
  outbox_.push_back({std::string(frame), std::move(invocation_id)});
  return true;
}

void Worker::Impl::send_registration_locked(std::string frame) {
  // While disconnected there is nothing to do: on_open replays the registries.
  if (ready_ && client_) client_->send(std::move(frame));
}

void Worker::Impl::send_reply(std::uint64_t generation, std::string_view frame, net::WsClient::Flush flush) {
  // The engine forgets a connection's invocations when it drops: a reply on a newer connection
  // would only be discarded, so it is not sent at all.
  std::lock_guard lock(mutex_);
  if (generation == generation_ && ready_ && client_) client_->send(frame, flush);
}

// ---- Impl: registrations -----------------------------------------------------------------------

void Worker::Impl::register_function(std::string id, FunctionHandler handler, FunctionOptions options) {
  std::lock_guard lock(mutex_);
  auto frame = detail::register_function_frame(id, options);
  functions_[std::move(id)] = {std::make_shared<const FunctionHandler>(std::move(handler)), std::move(options), nullptr};
  send_registration_locked(std::move(frame));
}

void Worker::Impl::register_raw_function(std::string id, RawFunctionHandler handler, FunctionOptions options) {
  std::lock_guard lock(mutex_);
  auto frame = detail::register_function_frame(id, options);
  functions_[std::move(id)] = {nullptr, std::move(options), nullptr,
                               std::make_shared<const RawFunctionHandler>(std::move(handler))};
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
void Worker::register_raw_function(std::string id, RawFunctionHandler handler, FunctionOptions options) {
  impl_->register_raw_function(std::move(id), std::move(handler), std::move(options));
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

json::value Worker::trigger(TriggerRequest request) { return impl_->trigger_sync(std::move(request)); }

json::value Worker::trigger(std::string function_id, json::value payload) {
  return trigger(TriggerRequest{.function_id = std::move(function_id), .payload = std::move(payload)});
}

std::future<json::value> Worker::trigger_async(TriggerRequest request) {
  return impl_->trigger_async(std::move(request));
}

void Worker::trigger_then(TriggerRequest request, TriggerCallback callback) {
  impl_->trigger_then(std::move(request), std::move(callback));
}

void Worker::trigger_raw_then(TriggerRequest request, RawTriggerCallback callback) {
  impl_->trigger_raw_then(std::move(request), std::move(callback));
}

bool Worker::connected() const { return impl_->connected(); }
bool Worker::wait_connected(std::chrono::milliseconds timeout) const { return impl_->wait_connected(timeout); }
std::string Worker::worker_id() const { return impl_->worker_id(); }
std::string Worker::last_error() const { return impl_->last_error(); }
const std::string& Worker::url() const { return impl_->url(); }

}  // namespace iii
