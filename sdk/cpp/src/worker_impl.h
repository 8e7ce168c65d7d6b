// The state behind iii::Worker. One mutex owns the connection state, the registrations and the
// pending calls; the I/O thread runs the WebSocket client and every timer; user code runs on
// the handler pools.
#pragma once
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "done_signal.h"
#include "frames.h"
#include "handler_pool.h"
#include "inbound_frame.h"
#include "iii/iii.h"
#include "wire/ws_client.h"

namespace iii {

class Worker::Impl : public std::enable_shared_from_this<Worker::Impl> {
 public:
  explicit Impl(WorkerOptions options);
  ~Impl();
  void start();
  void shutdown();

  void register_function(std::string id, FunctionHandler handler, FunctionOptions options);
  void register_raw_function(std::string id, RawFunctionHandler handler, FunctionOptions options);
  void register_http_function(std::string id, HttpInvocation invocation, FunctionOptions options);
  void unregister_function(const std::string& id);
  std::string register_trigger(TriggerRegistration registration);
  void unregister_trigger(const std::string& trigger_id);
  void register_trigger_type(std::string id, std::string description, TriggerHandler handler,
                             TriggerTypeOptions options);
  void unregister_trigger_type(const std::string& id);
  std::future<json::value> trigger_async(TriggerRequest request);
  void trigger_then(TriggerRequest request, TriggerCallback callback);
  void trigger_raw_then(TriggerRequest request, RawTriggerCallback callback);
  json::value trigger_sync(TriggerRequest request);

  bool connected() const;
  bool wait_connected(std::chrono::milliseconds timeout) const;
  std::string worker_id() const;
  std::string last_error() const;
  const std::string& url() const { return url_; }
  std::chrono::milliseconds default_timeout() const { return options_.invocation_timeout; }

 private:
  struct FunctionEntry {
    std::shared_ptr<const FunctionHandler> handler;  // null for an HTTP-invoked or a raw function
    FunctionOptions options;
    json::value invocation;  // non-null: an HTTP-invoked function's `invocation` object
    std::shared_ptr<const RawFunctionHandler> raw_handler = nullptr;  // set for a raw function
  };
  struct TriggerTypeEntry {
    std::string description;
    std::shared_ptr<const TriggerHandler> handler;
    TriggerTypeOptions options;
    std::map<std::string, TriggerConfig> bindings;  // what the engine asked this provider to activate
  };
  // A blocking trigger() waits on this: the I/O thread hands over the result's raw text and the
  // caller parses it, so the value is allocated and freed on the caller's thread (a value built
  // on one thread and freed on another sends glibc's malloc down its slow path every time).
  struct SyncWait {
    detail::DoneSignal done;             // set once result or error is written
    std::optional<std::string> result;  // raw JSON; none: no result
    std::optional<InvocationError> error;
  };
  struct PendingCall {
    TriggerCallback callback;          // either this (run on the I/O thread with the parsed value)
    RawTriggerCallback raw_callback;   // or this (the same with the raw text)
    std::shared_ptr<SyncWait> waiter;  // or this
    std::string function_id;
    bool sent = false;  // written to a connection (a close then ends it: CONNECTION_LOST)
    std::chrono::steady_clock::time_point deadline;  // the sweep fails it with TIMEOUT past this
    std::chrono::milliseconds timeout{0};
  };
  // Results are looked up by the id's view into the inbound frame, without a std::string copy.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
  };
  using PendingCalls = std::unordered_map<std::string, PendingCall, IdHash, std::equal_to<>>;
  // One call to one of our functions, as queued on the handler pool.
  struct Invocation {
    std::shared_ptr<Impl> self;
    std::uint64_t generation;
    std::shared_ptr<const FunctionHandler> handler;  // one of these two
    std::shared_ptr<const RawFunctionHandler> raw_handler;
    std::optional<std::string> invocation_id;  // none: a void call, nobody waits for the result
    std::string function_id;
    std::optional<std::string> data;  // raw JSON text; none: null
    void operator()();
  };
  struct Outgoing {
    std::string frame;
    std::string invocation_id;  // non-empty for calls: skipped at flush if the call timed out
  };

  // Connection lifecycle (I/O thread).
  void connect();
  void on_open(std::uint64_t generation);
  void on_message(std::uint64_t generation, std::string_view text);
  void on_close(std::uint64_t generation, std::string reason);
  void schedule_reconnect();
  std::chrono::milliseconds next_backoff();

  // Inbound frames (I/O thread); user callbacks are posted to the pools.
  // `text` is the whole frame, for error messages.
  void handle_invoke(std::uint64_t generation, const detail::InboundFrame& frame, std::string_view text);
  void handle_invocation_result(const detail::InboundFrame& frame, std::string_view text);
  void handle_register_trigger(std::uint64_t generation, TriggerConfig binding);
  void handle_unregister_trigger(const std::string& id, const std::string& trigger_type);

  // Outbound. REQUIRES for the *_locked ones: mutex_ held.
  // kSoon when more frames of this kind follow shortly (other calls in flight, other handlers
  // running): the I/O thread then writes them together (net::WsClient::Flush).
  bool send_now_or_queue(std::string_view frame, std::string invocation_id,
                         net::WsClient::Flush flush = net::WsClient::Flush::kNow);
  void send_registration_locked(std::string frame);
  // Sends a reply that only makes sense on the connection the request came from.
  void send_reply(std::uint64_t generation, std::string_view frame,
                  net::WsClient::Flush flush = net::WsClient::Flush::kNow);

  // Deadlines of calls: one timer on the I/O thread sweeps pending_ while it is not empty,
  // instead of a timer per call (arming one from the caller's thread woke the I/O thread once per
  // call). A timeout fires at most kDeadlineSweep late.
  static constexpr std::chrono::milliseconds kDeadlineSweep{20};
  void sweep_deadlines();
  // Sends the call and tracks it in pending_ until complete_call(); a call that cannot start (the
  // worker stops, the outbox is full) is completed with the error at once.
  void start_call(TriggerRequest& request, PendingCall call);
  // A void call (sent, nobody waits): nullopt when it left, else why not.
  std::optional<InvocationError> send_void_call(const TriggerRequest& request);
  // Ends a call taken out of pending_: `result` is the raw JSON of its result (none: no result).
  static void complete_call(PendingCall& call, std::optional<std::string_view> result,
                            std::optional<InvocationError> error);
  void fail_call(const std::string& invocation_id, InvocationError error);
  void fail_all_calls(const InvocationError& error);

  WorkerOptions options_;
  std::string url_;
  std::string worker_name_;

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer deadline_sweep_;  // I/O thread only
  std::thread io_thread_;
  std::thread::id io_thread_id_;  // set once by start(), before any user call: read without a lock
  detail::HandlerPool handlers_;
  detail::HandlerPool trigger_callbacks_;  // one thread: provider callbacks stay in order
  std::mt19937 jitter_random_{std::random_device{}()};

  mutable std::mutex mutex_;
  mutable std::condition_variable state_changed_;
  std::shared_ptr<net::WsClient> client_;
  std::uint64_t generation_ = 0;  // bumps on every connection attempt
  bool ready_ = false;            // replay sent on the current connection: frames go straight out
  bool registered_ = false;       // workerregistered received on the current connection
  bool stopping_ = false;
  bool sweep_armed_ = false;  // a sweep is scheduled (it runs while pending_ is not empty)
  bool stopped_ = false;
  int failed_attempts_ = 0;
  std::string worker_id_, reattach_token_, last_error_;
  std::deque<Outgoing> outbox_;

  std::map<std::string, FunctionEntry> functions_;
  std::map<std::string, TriggerConfig> triggers_;
  std::map<std::string, TriggerTypeEntry> trigger_types_;
  PendingCalls pending_;
  // Calls to our functions accepted by the handler pool and not answered yet: a handler that
  // finishes while others still run leaves its reply for the I/O thread to write with theirs.
  std::atomic<int> invocations_running_{0};
};

}  // namespace iii
