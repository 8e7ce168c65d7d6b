#include "workers/observability/call_tracer.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "wire/json_writer.h"
#include "workers/observability/otlp_ingest.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

class Observation final : public CallObservation {
 public:
  Observation(std::shared_ptr<TelemetryHub> hub, const CallStart& call, bool sampled, std::string trace_id,
              std::string parent_span_id)
      : hub_(std::move(hub)),
        function_id_(call.function_id),
        started_(std::chrono::steady_clock::now()),
        sampled_(sampled) {
    if (!sampled_) return;
    span_.trace_id = std::move(trace_id);
    span_.span_id = new_span_id();
    span_.parent_span_id = std::move(parent_span_id);
    span_.start_time_unix_nano = unix_nanos_now();
    span_.name = "call " + function_id_;
    span_.kind = call.trigger_type == "http" ? 2 : 1;
    span_.service_name = hub_->config().service_name;
    span_.scope_name = "iii-engine";
    span_.engine_span = true;
    span_.attributes.reserve(6);
    span_.attributes.push_back({"iii.function.id", json_string(call.function_id)});
    span_.attributes.push_back({"iii.invocation.id", json_string(call.invocation_id)});
    span_.attributes.push_back({"iii.worker.id", json_string(call.callee_worker_id)});
    span_.attributes.push_back({"iii.trigger.type", json_string(call.trigger_type.empty() ? "call" : call.trigger_type)});
    if (!call.caller_worker_id.empty())
      span_.attributes.push_back({"iii.caller.worker_id", json_string(call.caller_worker_id)});
    child_traceparent_ = format_traceparent(span_.trace_id, span_.span_id, true);
  }

  std::string_view child_traceparent() const override { return child_traceparent_; }

  void finish(const Outcome& outcome) override {
    const auto nanos = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_).count());
    if (hub_->config().metrics_enabled) hub_->metrics().record_call(function_id_, outcome.ok(), nanos);
    if (!sampled_) return;
    span_.end_time_unix_nano = span_.start_time_unix_nano + nanos;
    if (outcome.ok()) {
      span_.status = SpanStatus::kOk;
    } else {
      span_.status = SpanStatus::kError;
      span_.status_message = outcome.error->message;
      span_.attributes.push_back({"iii.error.code", json_string(outcome.error->code)});
    }
    hub_->submit_span(std::move(span_));
  }

 private:
  const std::shared_ptr<TelemetryHub> hub_;
  const std::string function_id_;
  const std::chrono::steady_clock::time_point started_;
  const bool sampled_;
  SpanRecord span_;
  std::string child_traceparent_;
};

}  // namespace

std::shared_ptr<CallObservation> CallTracer::begin(const CallStart& call) {
  if (retired_.load(std::memory_order_acquire)) return nullptr;
  std::optional<TraceParent> parent;
  if (!call.traceparent.empty()) parent = parse_traceparent(call.traceparent);
  std::string trace_id = parent ? parent->trace_id : new_trace_id();
  const bool sampled = hub_->sampler().sample(call.function_id, trace_id,
                                              ParentSample{parent.has_value(), parent && parent->sampled()});
  return std::make_shared<Observation>(hub_, call, sampled, std::move(trace_id),
                                       parent ? std::move(parent->span_id) : std::string());
}

void CallTracer::deferred(std::string_view) {
  if (!retired_.load(std::memory_order_acquire) && hub_->config().metrics_enabled) hub_->metrics().record_deferred();
}

void CallTracer::telemetry(std::string_view worker_id, std::string_view frame) {
  if (retired_.load(std::memory_order_acquire)) return;
  IngestedTelemetry t = parse_telemetry_frame(frame, hub_->config().max_attribute_bytes);
  hub_->count_frame(t.error.empty());
  if (!t.error.empty()) {
    spdlog::debug("telemetry frame from {} dropped: {}", worker_id, t.error);
    return;
  }
  if (!t.spans.empty()) hub_->submit_spans(std::move(t.spans));
  for (LogRecord& l : t.logs) {
    l.worker_id = std::string(worker_id);
    hub_->submit_log(std::move(l));
  }
  if (!t.metrics.empty()) hub_->submit_metrics(std::move(t.metrics));
}

}  // namespace iii::obs
