// iii C++ worker SDK: connect a process to an iii engine, serve functions, call functions.
//
//   iii::Worker worker({.name = "math-worker"});              // connects in the background
//   worker.register_function("math::add", [](json::value p) -> json::value {
//     return {{"c", p.at("a").to_number<double>() + p.at("b").to_number<double>()}};
//   });
//   json::value r = worker.trigger({.function_id = "math::add", .payload = {{"a", 2}, {"b", 3}}});
//   try { worker.trigger("math::nope", nullptr); }
//   catch (const iii::InvocationError& e) { /* e.code() == "function_not_found" */ }
//   worker.register_trigger({.trigger_type = "cron", .function_id = "math::add",
//                            .config = {{"expression", "0 * * * * *"}}});
//
// Contract:
//   - A Worker owns one WebSocket to the engine (default URL: env III_URL, else
//     ws://localhost:49134) and a background I/O thread. It reconnects by itself with exponential
//     backoff (1 s, x2, capped at 30 s, +-30 % jitter) and, on every (re)connect, re-sends all
//     registrations (trigger types, functions, triggers, with the same trigger ids), then the
//     worker's metadata. Nothing has to be re-registered by hand.
//   - register_*() and unregister_*() may be called at any time, connected or not.
//   - Function handlers run on a pool of options.handler_threads threads (never on the I/O
//     thread), so a handler may itself call trigger() (a call served by this same worker needs a
//     free pool thread). A handler returns a value, or null / std::nullopt for "no result", or
//     throws: the exception text reaches the caller as an InvocationError "invocation_failed"
//     (a thrown InvocationError keeps its own code, message and stacktrace).
//   - trigger() blocks until the result or the timeout (options.invocation_timeout, or the
//     request's own; a local TIMEOUT fires within 20 ms after it). Failures throw InvocationError: the remote ErrorBody (function_not_found,
//     invocation_failed, invocation_stopped, ...) or a local TIMEOUT / SHUTDOWN / INVALID_RESULT, or
//     CONNECTION_LOST for a call sent on a connection that closed before its answer (the engine
//     ends a closed connection's calls: nothing answers it on the next one). A call made while
//     disconnected waits in a bounded queue and goes out after the reconnect.
//   - Frames leave in batches under load: a call made while others are in flight, a reply of a
//     handler while other handlers run, and anything sent while the I/O thread handles a read are
//     written by the I/O thread together with the rest of that burst; a lone call or reply is
//     written at once by the thread that made it.
//   - Void calls are fire-and-forget and return null at once; Enqueue calls go through a queue
//     and return its receipt ({"messageReceiptId": ...}).
//   - Trigger-type callbacks (TriggerHandler) run one at a time, in the order the engine sent them;
//     after a reconnect the engine re-sends live bindings, so register_trigger is an upsert.
//   - Every method is thread-safe. shutdown() (also run by the destructor) closes the socket and
//     joins the threads within a few seconds; calls still waiting fail with code SHUTDOWN.
//     REQUIRES: shutdown() and the destructor are not called from inside a handler.
#pragma once
#include <boost/json.hpp>  // the whole library: users will want parse() and serialize() too
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>

namespace iii {

namespace json = boost::json;

inline constexpr const char* kDefaultEngineUrl = "ws://localhost:49134";

// A failed invocation: the engine's or callee's ErrorBody, or a local failure (TIMEOUT, SHUTDOWN,
// QUEUE_FULL, INVALID_RESULT). what() is "<code>: <message>".
class InvocationError : public std::runtime_error {
 public:
  InvocationError(std::string code, std::string message, std::optional<std::string> stacktrace = {});
  const std::string& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const std::optional<std::string>& stacktrace() const noexcept { return stacktrace_; }

 private:
  std::string code_, message_;
  std::optional<std::string> stacktrace_;
};

struct WorkerOptions {
  std::string url{};  // empty: env III_URL, else kDefaultEngineUrl
  std::string name{};
  std::string description{};
  std::chrono::milliseconds invocation_timeout{30000};
  std::chrono::milliseconds reconnect_initial_delay{1000};
  std::chrono::milliseconds reconnect_max_delay{30000};
  std::chrono::milliseconds connect_timeout{10000};
  std::size_t handler_threads = 4;
  std::size_t max_queued_messages = 1024;  // outgoing frames held while disconnected
  // Calls waiting for a free handler thread; beyond it a call is answered at once with
  // {"code":"worker_overloaded"} instead of queueing without bound.
  std::size_t max_queued_invocations = 10000;
  bool quiet = false;                      // no connection-state lines on stderr
  // Called after every (re)connection is registered (on the thread of the trigger-type
  // callbacks): what was registered is replayed already; what happened while disconnected is not.
  std::function<void()> on_connected{};
};

// A handler's answer: a value, or std::nullopt / null for "no result".
using FunctionHandler = std::function<std::optional<json::value>(json::value payload)>;
// The same on JSON text (register_raw_function), for a function that forwards or stores what it
// gets: the SDK builds no DOM of it. `payload_json` is the call's data as the engine sent it
// ("null" when none); the answer is one JSON value as text (checked, not parsed into a DOM), or
// std::nullopt for "no result".
using RawFunctionHandler = std::function<std::optional<std::string>(std::string_view payload_json)>;

struct FunctionOptions {
  std::string description{};
  json::value request_format{};   // null: not sent
  json::value response_format{};  // null: not sent
  json::value metadata{};         // null: not sent
  // Run the handler on the I/O thread that read the call instead of a handler-pool thread: no
  // thread hand-off per call, and its replies leave with the other frames of that read. Only for
  // short handlers that never block: while it runs, nothing else of this worker is read or
  // answered. A blocking trigger() from it fails with WOULD_DEADLOCK (its answer could never be
  // read); trigger_then() and void calls are fine. Not sent to the engine.
  bool run_inline = false;
};

// The implementation of a function that is an HTTP endpoint, called by the engine
// (register_http_function; the engine needs its iii-http-functions built-in). `auth` is
// {"type":"bearer","token_key":ENV} | {"type":"api_key","header":H,"value_key":ENV} |
// {"type":"hmac","secret_key":ENV}: secrets are names of the engine's environment variables.
struct HttpInvocation {
  std::string url;
  std::string method = "POST";
  int timeout_ms = 0;     // 0: not sent (the engine's default, 30 s)
  json::value headers{};  // null: not sent; else an object of strings
  json::value auth{};     // null: not sent
};

// A binding of a function to a trigger type (what register_trigger() sends, and what a trigger
// type provider receives).
struct TriggerConfig {
  std::string id{};  // trigger id (UUIDv4, generated by the SDK when registering)
  std::string trigger_type{};
  std::string function_id{};
  json::value config{};
  json::value metadata{};
};

struct TriggerRegistration {
  std::string trigger_type{};
  std::string function_id{};
  json::value config{};    // sent as null when unset
  json::value metadata{};  // null: not sent
};

// The provider side of a trigger type. register_trigger may throw to reject a binding (the
// binder gets trigger_registration_failed with the exception text).
struct TriggerHandler {
  std::function<void(const TriggerConfig&)> register_trigger{};
  std::function<void(const TriggerConfig&)> unregister_trigger{};
};

struct TriggerTypeOptions {
  json::value trigger_request_format{};  // schema of a binding's config; null: not sent
  json::value call_request_format{};     // schema of the payload bound functions get; null: not sent
};

struct Void {};  // fire-and-forget
struct Enqueue {
  std::string queue{};
};
using TriggerAction = std::variant<std::monostate, Void, Enqueue>;  // monostate: wait for the result

struct TriggerRequest {
  std::string function_id{};
  json::value payload{};
  // JSON text sent as the payload instead of `payload`, as it is: checked (INVALID_PAYLOAD when it
  // is not one JSON value) but not parsed into a DOM.
  std::optional<std::string> payload_json{};
  TriggerAction action{};
  std::optional<std::chrono::milliseconds> timeout{};  // default: WorkerOptions::invocation_timeout
  json::value metadata{};                              // per-call sidecar; null: not sent
};

// How an asynchronous call ends: its result, or the failure (then `result` is null).
using TriggerCallback = std::function<void(json::value result, std::optional<InvocationError> error)>;
// The same with the result as the engine sent it, JSON text ("null" for no result or a failure).
using RawTriggerCallback = std::function<void(std::string_view result_json, std::optional<InvocationError> error)>;

class Worker {
 public:
  explicit Worker(WorkerOptions options = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Registering an id again replaces its handler and options.
  void register_function(std::string id, FunctionHandler handler, FunctionOptions options = {});
  // The same for a handler of JSON text (RawFunctionHandler). A result that is not one JSON value
  // answers the call with invocation_failed.
  void register_raw_function(std::string id, RawFunctionHandler handler, FunctionOptions options = {});
  // A function whose calls the engine makes as HTTP requests to `invocation.url`; it belongs to
  // this connection like any other (re-registered on reconnect, gone when the worker stops).
  void register_http_function(std::string id, HttpInvocation invocation, FunctionOptions options = {});
  void unregister_function(const std::string& id);

  // Returns the new trigger's id.
  std::string register_trigger(TriggerRegistration registration);
  void unregister_trigger(const std::string& trigger_id);

  void register_trigger_type(std::string id, std::string description, TriggerHandler handler,
                             TriggerTypeOptions options = {});
  void unregister_trigger_type(const std::string& id);

  // Synchronous call. Throws InvocationError. Void returns null immediately.
  json::value trigger(TriggerRequest request);
  json::value trigger(std::string function_id, json::value payload);
  // The same call, answered through a future (which holds the InvocationError on failure).
  std::future<json::value> trigger_async(TriggerRequest request);
  // The same call, answered through `callback`, exactly once: on the worker's I/O thread when the
  // answer or the timeout comes, or on the calling thread when the call fails at once (SHUTDOWN,
  // QUEUE_FULL) or is a void call. The callback must not block: what it starts runs elsewhere (a
  // blocking trigger() from the I/O thread fails with WOULD_DEADLOCK). What it throws is printed on
  // stderr and otherwise ignored.
  void trigger_then(TriggerRequest request, TriggerCallback callback);
  // trigger_then() handing over the result as JSON text, without building its DOM.
  void trigger_raw_then(TriggerRequest request, RawTriggerCallback callback);

  // True while a connection is open and the engine has sent workerregistered on it.
  bool connected() const;
  // Waits until connected() or the timeout; returns connected().
  bool wait_connected(std::chrono::milliseconds timeout) const;
  // The engine-assigned id of the current (or last) connection; empty before the first.
  std::string worker_id() const;
  // Why the last connection attempt or connection ended; empty if none did.
  std::string last_error() const;
  const std::string& url() const;

  void shutdown();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii
