// One HTTP request's trip through the iii-http pipeline (docs/builtins.md §1.4–§1.5):
//
//   route match → (wait for a concurrency permit) → global middleware → request/response channels
//   created, body pushed → condition → route middleware → handler → response
//
// The response is the handler's envelope, an error envelope, or — when the handler returns no
// value — a stream read from the response channel (set_status / set_headers text frames, binary
// body chunks, end of stream). A deadline of `default_timeout` covers everything until the response
// starts (504). The exchange owns no I/O: an HttpTransport (net/http_transport.h) gives it a serial
// executor, a deadline timer and writes. Every method runs on that executor; completions from the
// engine are dispatched to it (inline when the engine calls from another thread that may enter it),
// wakes from channels are posted to it.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/channel_hub.h"
#include "core/error_body.h"
#include "net/http_transport.h"
#include "workers/http/http_request_mapping.h"
#include "workers/http/http_response_mapping.h"
#include "workers/http/http_worker.h"

namespace iii {

class HttpExchange final : public HttpServerExchange, public std::enable_shared_from_this<HttpExchange> {
 public:
  // `request` views must stay valid until the transport's finish() (the transport owns them).
  HttpExchange(HttpTriggerWorker& worker, std::shared_ptr<HttpTransport> transport, HttpRequestView request,
               HttpExchangeOptions options);
  ~HttpExchange();

  void start();
  // The connection is gone: stop everything and release what is held. Idempotent.
  void abort() override;

 private:
  enum class Phase { kQueued, kMiddleware, kChannels, kCondition, kHandler, kStreaming, kDone };

  void on_permit();
  void run_global_middleware(size_t index);
  void run_route_middleware(size_t index);
  void call_middleware(const std::string& function_id, std::function<void()> next);
  void on_middleware(Outcome outcome, const std::function<void()>& next, const std::string& function_id);
  void open_channels();
  void push_body();
  void check_condition();
  void invoke_handler();
  void on_result(Outcome outcome);
  void pump_response();
  void start_streaming(const ChannelItem* first, bool ended);
  void stream_next();
  void stream_once();
  void on_deadline();

  void respond(const HttpResponse& response);
  void fail(std::string_view what, const ErrorBody& error);
  void end(bool keep_alive);
  void release_permit();
  void release_channels();
  ResponseFraming framing(bool keep_alive);
  bool keep_alive_after_response() const;

  HttpTriggerWorker& worker_;
  std::shared_ptr<HttpTransport> transport_;
  HttpRequestView request_;
  HttpExchangeOptions options_;
  std::shared_ptr<const HttpSettings> settings_;

  Phase phase_ = Phase::kQueued;
  bool done_ = false;
  bool holding_permit_ = false;
  bool head_request_ = false;
  std::optional<RouteMatch> match_;
  RequestFragments fragments_;
  std::string middleware_input_;
  std::string payload_prefix_;
  std::string cors_scratch_;
  std::string_view cors_headers_;
  // The request's W3C trace context, continued by every call the exchange makes (views into the
  // request's headers).
  std::string_view traceparent_, baggage_;
  CallContext call_context() const { return CallContext{"http", traceparent_, baggage_}; }

  std::shared_ptr<Channel> request_channel_;   // the engine writes the body
  std::shared_ptr<Channel> response_channel_;  // the engine reads the handler's stream
  size_t body_offset_ = 0;
  bool body_done_ = false;
  HttpResponseHead stream_head_;
  bool chunked_ = true;
  bool writing_ = false;  // a streamed chunk is being written
  bool streaming_ = false;      // stream_next() is on the stack
  bool stream_again_ = false;   // a write completed inline during it: loop instead of recursing
};

// Starts an exchange for `request` on `transport` (the common entry point of the server).
std::shared_ptr<HttpExchange> start_http_exchange(HttpTriggerWorker& worker, std::shared_ptr<HttpTransport> transport,
                                                  HttpRequestView request, HttpExchangeOptions options);

}  // namespace iii
