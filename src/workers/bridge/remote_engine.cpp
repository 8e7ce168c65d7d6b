#include "workers/bridge/remote_engine.h"

#include <iii/iii.h>

#include <future>

#include "core/json_text.h"
#include "engine/engine.h"

namespace iii {
namespace {

namespace json = boost::json;

Outcome bridge_failure(const std::string& url, const std::string& why) {
  return Outcome::failure(kBridgeError, "remote engine " + url + ": " + why);
}

// The SDK's own failures (the call never got an answer from the remote) become bridge_error; a
// remote error body is passed on as it came.
Outcome outcome_of(const std::string& url, json::value result, const std::optional<InvocationError>& error) {
  if (!error) return Outcome::success(json_text::serialize(result));
  const std::string& code = error->code();
  if (code == "TIMEOUT" || code == "SHUTDOWN" || code == "QUEUE_FULL" || code == "CONNECTION_LOST")
    return bridge_failure(url, error->message());
  return Outcome{{}, ErrorBody{code, error->message(), error->stacktrace()}};
}

}  // namespace

class RemoteEngine::Impl {
 public:
  // Exposed functions wait on an SDK handler thread for this engine's answer: by default enough
  // threads that a few slow local functions do not hold up every other call from the remote.
  Impl(const std::string& url, const std::string& name, std::size_t handler_threads,
       std::function<void()> on_reconnect)
      : worker(WorkerOptions{.url = url,
                             .name = name,
                             .handler_threads = handler_threads,
                             .quiet = true,
                             .on_connected = [on_reconnect = std::move(on_reconnect), first = true]() mutable {
                               if (!first && on_reconnect) on_reconnect();
                               first = false;
                             }}) {}
  Worker worker;
};

RemoteEngine::RemoteEngine(std::string url, std::string worker_name, std::size_t handler_threads,
                           std::function<void()> on_reconnect)
    : url_(std::move(url)), impl_(std::make_shared<Impl>(url_, worker_name, handler_threads, std::move(on_reconnect))) {}

RemoteEngine::~RemoteEngine() { shutdown(); }

bool RemoteEngine::connected() const { return impl_->worker.connected(); }

bool RemoteEngine::wait_connected(std::chrono::milliseconds timeout) const {
  return impl_->worker.wait_connected(timeout);
}

// Runs `start` with a completion and waits up to `bound` for it; past it, `on_timeout`.
static Outcome wait_for_outcome(const std::function<void(Completion)>& start, std::chrono::milliseconds bound,
                         const std::function<Outcome()>& on_timeout) {
  auto answer = std::make_shared<std::promise<Outcome>>();
  std::future<Outcome> outcome = answer->get_future();
  start([answer](Outcome o) { answer->set_value(std::move(o)); });
  if (outcome.wait_for(bound) != std::future_status::ready) return on_timeout();
  return outcome.get();
}

void RemoteEngine::send(std::string_view function_id, std::string_view request, bool fire_and_forget,
                        std::chrono::milliseconds timeout, Completion done) const {
  if (!impl_->worker.connected()) {
    std::string why = "not connected";
    if (std::string last = impl_->worker.last_error(); !last.empty()) why += " (" + last + ")";
    return done(bridge_failure(url_, why));
  }
  std::string error;
  std::optional<json::value> payload = json_text::parse(request, &error);
  if (!payload) return done(bridge_failure(url_, "the request is not JSON: " + error));
  impl_->worker.trigger_then(
      TriggerRequest{.function_id = std::string(function_id),
                     .payload = std::move(*payload),
                     .action = fire_and_forget ? TriggerAction(Void{}) : TriggerAction(),
                     .timeout = timeout},
      [url = url_, done = std::move(done)](json::value result, std::optional<InvocationError> failure) {
        done(outcome_of(url, std::move(result), failure));
      });
}

void RemoteEngine::call(std::string_view function_id, std::string_view request, std::chrono::milliseconds timeout,
                        Completion done) const {
  send(function_id, request, false, timeout, std::move(done));
}

void RemoteEngine::call_void(std::string_view function_id, std::string_view request, Completion done) const {
  send(function_id, request, true, kBridgeCallTimeout, std::move(done));
}

Outcome RemoteEngine::call_and_wait(std::string_view function_id, std::string_view request,
                                    std::chrono::milliseconds timeout) const {
  // The call's own timeout answers first; the margin only guards against a stuck connection.
  return wait_for_outcome([&](Completion done) { call(function_id, request, timeout, std::move(done)); },
                          timeout + std::chrono::seconds(5),
                          [&] { return bridge_failure(url_, std::string(function_id) + " did not answer"); });
}

Outcome RemoteEngine::await_local(Engine& engine, const std::function<void(Completion)>& start, std::string_view what) {
  // The engine answers every call within its invocation timeout; the wait adds a margin so that
  // its own timeout error, not this one, is what the remote caller sees.
  const auto bound = engine.options().invocation_timeout + std::chrono::seconds(5);
  return wait_for_outcome(start, bound, [&] {
    return Outcome::failure(codes::kTimeout, std::string(what) + " did not answer within " + std::to_string(bound.count()) + " ms");
  });
}

void RemoteEngine::expose(std::string remote_id, std::string local_id, Engine& engine) {
  expose(std::move(remote_id), [&engine, local_id = std::move(local_id)](const std::string& payload) {
    return await_local(engine, [&](Completion done) { engine.invoke(local_id, payload, "", std::move(done)); }, local_id);
  });
}

void RemoteEngine::expose(std::string remote_id, Handler handler) {
  impl_->worker.register_function(std::move(remote_id), [handler = std::move(handler)](json::value payload) -> std::optional<json::value> {
    Outcome o = handler(json_text::serialize(payload));
    if (o.error) throw InvocationError(o.error->code, o.error->message, o.error->stacktrace);
    std::string error;
    std::optional<json::value> result = json_text::parse(o.result.empty() ? "null" : o.result, &error);
    if (!result) throw InvocationError("invocation_failed", "the answer is not JSON: " + error);
    return result;
  });
}

std::string RemoteEngine::register_trigger(std::string trigger_type, std::string function_id, std::string_view config) {
  std::optional<json::value> parsed = json_text::parse(config);
  return impl_->worker.register_trigger(TriggerRegistration{.trigger_type = std::move(trigger_type),
                                                            .function_id = std::move(function_id),
                                                            .config = parsed ? std::move(*parsed) : json::value()});
}

void RemoteEngine::unexpose(const std::string& remote_id) { impl_->worker.unregister_function(remote_id); }

void RemoteEngine::unregister_trigger(const std::string& id) { impl_->worker.unregister_trigger(id); }

void RemoteEngine::shutdown() { impl_->worker.shutdown(); }

}  // namespace iii
