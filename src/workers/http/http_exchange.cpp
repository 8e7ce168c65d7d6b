#include "workers/http/http_exchange.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/engine.h"
#include "core/ascii.h"

namespace iii {
namespace {


constexpr size_t kBodyFrameBytes = 64 * 1024;     // like the SDK writers' frames
constexpr size_t kStreamBatchBytes = 256 * 1024;  // chunks gathered into one write

bool is_json_false(std::string_view raw) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\n' || raw.front() == '\r' || raw.front() == '\t'))
    raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
    raw.remove_suffix(1);
  return raw == "false";
}

bool has_value(std::string_view raw) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\n' || raw.front() == '\r' || raw.front() == '\t'))
    raw.remove_prefix(1);
  return !raw.empty() && !raw.starts_with("null");
}

}  // namespace

std::shared_ptr<HttpExchange> start_http_exchange(HttpTriggerWorker& worker, std::shared_ptr<HttpTransport> transport,
                                                  HttpRequestView request, HttpExchangeOptions options) {
  auto exchange = std::make_shared<HttpExchange>(worker, std::move(transport), request, options);
  exchange->start();
  return exchange;
}

HttpExchange::HttpExchange(HttpTriggerWorker& worker, std::shared_ptr<HttpTransport> transport,
                           HttpRequestView request, HttpExchangeOptions options)
    : worker_(worker), transport_(std::move(transport)), request_(request), options_(options) {}

HttpExchange::~HttpExchange() {
  // Normally everything was released when the exchange ended. This is the path of an exchange
  // dropped mid-flight (shutdown): close the channels, but leave the hub (it may be gone already).
  release_permit();
  if (request_channel_) request_channel_->close();
  if (response_channel_) response_channel_->close();
}

void HttpExchange::start() {
  settings_ = worker_.settings();
  head_request_ = request_.method == "HEAD";
  const std::string_view origin = find_header(request_, "origin");
  cors_headers_ = settings_->cors.response_headers(origin, cors_scratch_);

  const std::string_view path = target_path(request_.target);
  if (request_.method == "OPTIONS") {
    // CORS preflight. A plain OPTIONS (no Access-Control-Request-Method) may still reach a route.
    const bool preflight = !find_header(request_, "access-control-request-method").empty();
    if (preflight || !(match_ = worker_.routes().match(request_.method, path))) {
      cors_scratch_ = settings_->cors.preflight_headers(origin);
      cors_headers_ = cors_scratch_;
      HttpResponse ok;
      return respond(ok);  // 200, empty body
    }
  } else {
    match_ = worker_.routes().match(request_.method, path);
  }
  if (!match_) return respond(not_found_response());

  auto self = shared_from_this();
  if (worker_.limiter().acquire([self] { self->transport_->post([self] { self->on_permit(); }); })) {
    on_permit();
  }
}

void HttpExchange::on_permit() {
  holding_permit_ = true;
  if (done_) return release_permit();
  auto self = shared_from_this();
  transport_->arm_deadline(settings_->config.default_timeout, [self] { self->on_deadline(); });
  fragments_ = build_request_fragments(request_, *match_);
  for (const HttpHeaderView& h : *request_.headers) {
    if (ascii_iequals(h.name, "traceparent")) traceparent_ = h.value;
    else if (ascii_iequals(h.name, "baggage")) baggage_ = h.value;
  }
  run_global_middleware(0);
}

// --- middleware ---

void HttpExchange::run_global_middleware(size_t index) {
  const auto& list = settings_->config.middleware;
  while (index < list.size() && list[index].phase != "preHandler") ++index;
  if (index == list.size()) return open_channels();
  auto self = shared_from_this();
  call_middleware(list[index].function_id, [self, index] { self->run_global_middleware(index + 1); });
}

void HttpExchange::run_route_middleware(size_t index) {
  const auto& ids = match_->route->middleware_function_ids;
  if (index == ids.size()) return invoke_handler();
  auto self = shared_from_this();
  call_middleware(ids[index], [self, index] { self->run_route_middleware(index + 1); });
}

void HttpExchange::call_middleware(const std::string& function_id, std::function<void()> next) {
  phase_ = Phase::kMiddleware;
  if (middleware_input_.empty()) middleware_input_ = build_middleware_input(request_, fragments_);
  auto self = shared_from_this();
  worker_.engine().invoke(function_id, middleware_input_, {},
                          [self, next = std::move(next), function_id](Outcome outcome) mutable {
                            self->transport_->dispatch([self, outcome = std::move(outcome), next = std::move(next),
                                                    function_id = std::move(function_id)]() mutable {
                              self->on_middleware(std::move(outcome), next, function_id);
                            });
                          },
                          call_context());
}

void HttpExchange::on_middleware(Outcome outcome, const std::function<void()>& next, const std::string& function_id) {
  if (done_) return;
  if (!outcome.ok()) return fail("middleware " + function_id, *outcome.error);
  HttpResponse answer;
  if (has_value(outcome.result) && middleware_responds(outcome.result, answer)) return respond(answer);
  next();
}

// --- channels, body, condition ---

void HttpExchange::open_channels() {
  phase_ = Phase::kChannels;
  ChannelHub& hub = worker_.hub();
  request_channel_ = hub.create(ChannelHub::kDefaultBufferSize);
  request_channel_->take(ChannelDirection::kWrite);
  response_channel_ = hub.create(ChannelHub::kDefaultBufferSize);
  response_channel_->take(ChannelDirection::kRead);
  payload_prefix_ = build_payload_prefix(request_, *match_->route, fragments_, body_json(request_));
  push_body();
  check_condition();
}

void HttpExchange::push_body() {
  if (done_ || body_done_ || !request_channel_) return;
  auto self = shared_from_this();
  const std::string_view body = request_.body;
  while (body_offset_ < body.size()) {
    switch (request_channel_->writable([self] { self->transport_->post([self] { self->push_body(); }); })) {
      case Channel::WriteState::kWait: return;
      case Channel::WriteState::kGone: body_done_ = true; return;
      case Channel::WriteState::kReady: break;
    }
    const size_t n = std::min(kBodyFrameBytes, body.size() - body_offset_);
    request_channel_->push(ChannelItem{true, std::string(body.substr(body_offset_, n))});
    body_offset_ += n;
  }
  request_channel_->finish();
  body_done_ = true;
}

void HttpExchange::check_condition() {
  const std::string& condition = match_->route->condition_function_id;
  if (condition.empty()) return run_route_middleware(0);
  phase_ = Phase::kCondition;
  auto self = shared_from_this();
  // The condition sees the request without its channel refs (docs/protocol.md §3.11).
  worker_.engine().invoke(condition, finish_condition_payload(payload_prefix_), {}, [self](Outcome outcome) mutable {
    self->transport_->dispatch([self, outcome = std::move(outcome)]() mutable {
      if (self->done_) return;
      if (!outcome.ok()) return self->fail("condition " + self->match_->route->condition_function_id, *outcome.error);
      if (is_json_false(outcome.result)) return self->respond(condition_not_met_response());
      self->run_route_middleware(0);
    });
  }, call_context());
}

// --- handler and response ---

void HttpExchange::invoke_handler() {
  phase_ = Phase::kHandler;
  std::string payload = finish_handler_payload(std::move(payload_prefix_),
                                               channel_ref_json(*request_channel_, ChannelDirection::kRead),
                                               channel_ref_json(*response_channel_, ChannelDirection::kWrite));
  auto self = shared_from_this();
  const HttpRoute& route = *match_->route;
  worker_.engine().invoke(route.function_id, payload, route.metadata, [self](Outcome outcome) mutable {
    self->transport_->dispatch([self, outcome = std::move(outcome)]() mutable { self->on_result(std::move(outcome)); });
  }, call_context());
  pump_response();
}

void HttpExchange::on_result(Outcome outcome) {
  if (done_ || phase_ == Phase::kStreaming) {
    if (!outcome.ok())
      spdlog::debug("http {}: handler failed after its response started: {}", match_->route->key, outcome.error->code);
    return;
  }
  if (!outcome.ok()) return fail("handler " + match_->route->function_id, *outcome.error);
  if (has_value(outcome.result)) return respond(response_from_result(outcome.result));
  // No value: the response comes from the response channel (pump_response is reading it).
}

// Reads control messages until the first body chunk or the end of the stream, which starts the
// streamed response; meanwhile the handler's result may still win with an envelope.
void HttpExchange::pump_response() {
  if (done_ || phase_ == Phase::kStreaming || !response_channel_) return;
  auto self = shared_from_this();
  for (;;) {
    ChannelItem item;
    switch (response_channel_->pop(item, [self] { self->transport_->post([self] { self->pump_response(); }); })) {
      case Channel::ReadState::kWait: return;
      case Channel::ReadState::kEnd: return start_streaming(nullptr, true);
      case Channel::ReadState::kItem:
        if (item.binary) return start_streaming(&item, false);
        if (!apply_control_message(item.data, stream_head_))
          spdlog::debug("http {}: response channel text frame ignored", match_->route->key);
        break;
    }
  }
}

void HttpExchange::start_streaming(const ChannelItem* first, bool ended) {
  phase_ = Phase::kStreaming;
  transport_->disarm_deadline();
  release_permit();
  chunked_ = !options_.http10;
  const bool keep_alive = keep_alive_after_response() && chunked_;
  std::string out = serialize_stream_head(stream_head_, framing(keep_alive));
  if (head_request_ || !status_allows_body(stream_head_.status)) {  // headers only
    done_ = true;
    release_channels();
    auto self = shared_from_this();
    return transport_->write(std::move(out), [self, keep_alive](bool ok) { self->end(ok && keep_alive); });
  }
  if (first) append_body_chunk(out, first->data, chunked_);
  auto self = shared_from_this();
  if (ended) {
    if (chunked_) out += kLastChunk;
    done_ = true;
    release_channels();
    return transport_->write(std::move(out), [self, keep_alive](bool ok) { self->end(ok && keep_alive); });
  }
  writing_ = true;
  transport_->write(std::move(out), [self](bool ok) {
    self->writing_ = false;
    if (!ok) return self->abort();
    self->stream_next();
  });
}

void HttpExchange::stream_next() {
  // A write may complete inline and call us again: loop here instead of recursing once per batch.
  if (streaming_) {
    stream_again_ = true;
    return;
  }
  streaming_ = true;
  do {
    stream_again_ = false;
    stream_once();
  } while (stream_again_);
  streaming_ = false;
}

void HttpExchange::stream_once() {
  // One write at a time: a wake arriving during a write finds `writing_` set and returns; the
  // write's completion calls stream_next() again, so no item is left behind.
  if (done_ || writing_ || !response_channel_) return;
  auto self = shared_from_this();
  std::string out;
  for (;;) {
    ChannelItem item;
    auto state = response_channel_->pop(item, [self] { self->transport_->post([self] { self->stream_next(); }); });
    if (state == Channel::ReadState::kItem) {
      if (item.binary) append_body_chunk(out, item.data, chunked_);  // text after the start: ignored
      if (out.size() < kStreamBatchBytes) continue;
    } else if (state == Channel::ReadState::kEnd) {
      if (chunked_) out += kLastChunk;
      done_ = true;
      release_channels();
      const bool keep_alive = keep_alive_after_response() && chunked_;
      return transport_->write(std::move(out), [self, keep_alive](bool ok) { self->end(ok && keep_alive); });
    }
    if (out.empty()) return;  // nothing gathered yet: the wake resumes us
    writing_ = true;
    return transport_->write(std::move(out), [self](bool ok) {
      self->writing_ = false;
      if (!ok) return self->abort();
      self->stream_next();
    });
  }
}

void HttpExchange::on_deadline() {
  if (done_ || phase_ == Phase::kStreaming || phase_ == Phase::kQueued) return;
  spdlog::warn("http {} {}: no response within {} ms", request_.method, target_path(request_.target),
               settings_->config.default_timeout.count());
  respond(phase_ == Phase::kMiddleware ? middleware_timeout_response() : gateway_timeout_response());
}

// --- endings ---

void HttpExchange::fail(std::string_view what, const ErrorBody& error) {
  HttpResponse response = error_response(500, error.code, error.message, true);
  spdlog::warn("http {} {}: {} failed: {}: {}", request_.method, target_path(request_.target), what, error.code,
               error.message);
  respond(response);
}

void HttpExchange::respond(const HttpResponse& response) {
  if (done_) return;
  done_ = true;
  phase_ = Phase::kDone;
  transport_->disarm_deadline();
  release_permit();
  release_channels();
  const bool keep_alive = keep_alive_after_response();
  auto self = shared_from_this();
  transport_->write(serialize_response(response, framing(keep_alive)),
                    [self, keep_alive](bool ok) { self->end(ok && keep_alive); });
}

void HttpExchange::end(bool keep_alive) {
  phase_ = Phase::kDone;
  done_ = true;
  release_channels();
  transport_->finish(keep_alive);
}

void HttpExchange::abort() {
  if (phase_ == Phase::kDone && done_) return;
  done_ = true;
  phase_ = Phase::kDone;
  transport_->disarm_deadline();
  release_permit();
  release_channels();
  transport_->finish(false);
}

void HttpExchange::release_permit() {
  if (!holding_permit_) return;
  holding_permit_ = false;
  worker_.limiter().release();
}

void HttpExchange::release_channels() {
  ChannelHub& hub = worker_.hub();
  if (request_channel_) {
    if (!body_done_) request_channel_->close();  // a partial body must not read as complete
    hub.remove(request_channel_->id());
    request_channel_.reset();
  }
  if (response_channel_) {
    response_channel_->abandon();  // a connected writer is told to stop
    hub.remove(response_channel_->id());
    response_channel_.reset();
  }
}

bool HttpExchange::keep_alive_after_response() const { return options_.keep_alive; }

ResponseFraming HttpExchange::framing(bool keep_alive) {
  ResponseFraming f;
  f.keep_alive = keep_alive;
  f.http10 = options_.http10;
  f.head_request = head_request_;
  f.extra_headers = cors_headers_;
  return f;
}

}  // namespace iii
