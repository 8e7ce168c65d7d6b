// A connection from this engine to another engine, made as an SDK worker with the C++ SDK
// (sdk/cpp): what `iii-bridge` and the `bridge` adapters of state and streams call through
// (docs/builtins.md §10). The SDK reconnects with backoff and re-registers what was registered
// here; this class adds what an engine needs on top: calls that fail at once while the remote is
// unreachable (nothing queues for a reconnect that may never come), raw JSON in and out, and
// functions of the remote that run functions of this engine.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/error_body.h"
#include "core/invocation_table.h"  // Completion

namespace iii {

class Engine;

inline constexpr const char* kBridgeError = "bridge_error";
// How long a call through a bridge waits for the remote's answer unless told otherwise.
inline constexpr std::chrono::milliseconds kBridgeCallTimeout{30000};

class RemoteEngine {
 public:
  // Starts connecting to `url` in the background as a worker named `worker_name`. Functions
  // exposed there run on `handler_threads` threads: 1 keeps their calls in the order they came.
  // `on_reconnect` runs after every connection but the first (off the I/O thread): what the
  // remote did while it was down was not seen here.
  RemoteEngine(std::string url, std::string worker_name, std::size_t handler_threads = 16,
               std::function<void()> on_reconnect = {});
  ~RemoteEngine();
  RemoteEngine(const RemoteEngine&) = delete;
  RemoteEngine& operator=(const RemoteEngine&) = delete;

  const std::string& url() const { return url_; }
  bool connected() const;
  // Waits up to `timeout` for the connection; returns connected().
  bool wait_connected(std::chrono::milliseconds timeout) const;

  // Calls `function_id` on the remote engine with `request` (raw JSON). `done` gets, exactly once
  // and on any thread, the remote's result or its own error body, or `bridge_error` when the
  // remote is not connected now (at once), no answer comes within `timeout`, or `request` is not
  // JSON.
  void call(std::string_view function_id, std::string_view request, std::chrono::milliseconds timeout,
            Completion done) const;
  // A fire-and-forget call: `done` gets null once the call is sent, or `bridge_error`.
  void call_void(std::string_view function_id, std::string_view request, Completion done) const;
  // call(), waited for on the calling thread (for code that must answer synchronously).
  Outcome call_and_wait(std::string_view function_id, std::string_view request,
                        std::chrono::milliseconds timeout = kBridgeCallTimeout) const;

  // Registers `remote_id` on the remote engine; a call to it there runs `local_id` on `engine`
  // and answers with its outcome (its error code kept). Re-registered after every reconnect.
  void expose(std::string remote_id, std::string local_id, Engine& engine);
  // Registers `remote_id` on the remote engine, answered by `handler` (raw JSON payload in,
  // outcome out), which runs on one of the connection's handler threads and may block briefly.
  using Handler = std::function<Outcome(const std::string& payload)>;
  void expose(std::string remote_id, Handler handler);

  // Removes a function expose() registered.
  void unexpose(const std::string& remote_id);

  // Binds `function_id` (one this connection exposes) to a trigger of the remote engine;
  // `config` is raw JSON. Kept across reconnects. Returns the binding's id.
  std::string register_trigger(std::string trigger_type, std::string function_id, std::string_view config);
  void unregister_trigger(const std::string& id);

  // Waits (on the calling thread, at most the engine's invocation timeout + 5 s) for `engine` to
  // answer a call: for handlers given to expose(). A timeout is an outcome with code `timeout`.
  static Outcome await_local(Engine& engine, const std::function<void(Completion)>& start, std::string_view what);

  // Closes the connection; calls still waiting fail with bridge_error. Idempotent.
  void shutdown();

 private:
  // call(), or call_void() when `fire_and_forget`.
  void send(std::string_view function_id, std::string_view request, bool fire_and_forget,
            std::chrono::milliseconds timeout, Completion done) const;
  class Impl;
  std::string url_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii
