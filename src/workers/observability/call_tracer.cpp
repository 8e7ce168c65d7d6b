#include "workers/observability/call_tracer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>

#include "workers/observability/stored_span.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

// A cheap hash for the names cache below: the length and the first and last eight bytes. Ids that
// differ only in the middle share a slot and take turns in it; a hit is always checked in full.
size_t quick_hash(std::string_view s) {
  uint64_t head = 0, tail = 0;
  if (!s.empty()) std::memcpy(&head, s.data(), std::min<size_t>(s.size(), 8));  // an empty view may hold no pointer
  if (s.size() > 8) std::memcpy(&tail, s.data() + s.size() - 8, 8);
  uint64_t h = (head * 0x9E3779B97F4A7C15ull) ^ (tail * 0xC2B2AE3D27D4EB4Full) ^ s.size();
  h ^= h >> 32;  // the products' high bits hold the last bytes: fold them into the low ones
  h *= 0xD6E8FEB86659FD93ull;
  return static_cast<size_t>(h ^ (h >> 32));
}

// The span's start on the wall clock from the steady clock reading `t` the call took just before:
// the offset between the two clocks is taken against such a reading once a second per thread,
// which saves a clock read per call (a step of the wall clock shows in spans within a second).
uint64_t unix_nanos_at(std::chrono::steady_clock::time_point t) {
  struct Offset {
    std::chrono::steady_clock::time_point taken{};  // the reading it was taken against (epoch: never)
    int64_t nanos = 0;                              // wall clock minus steady clock
  };
  thread_local Offset offset;
  const int64_t steady_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  if (offset.taken.time_since_epoch().count() == 0 || t - offset.taken > std::chrono::seconds(1) || t < offset.taken) {
    offset.nanos = static_cast<int64_t>(unix_nanos_now()) - steady_nanos;
    offset.taken = t;
  }
  return static_cast<uint64_t>(steady_nanos + offset.nanos);
}

// The names of a call, interned per thread: the calls of one function from one worker share one
// CallNames, so recording a span allocates none of them.
std::shared_ptr<const CallNames> names_of(const CallStart& call, TelemetryHub& hub) {
  struct Slot {
    uint64_t hub = 0;  // TelemetryHub::id(): a hub made after a reload never sees another's names
    std::shared_ptr<const CallNames> names;
  };
  constexpr size_t kSlots = 64;
  thread_local std::array<Slot, kSlots> cache;
  const std::string_view trigger = call.trigger_type.empty() ? std::string_view("call") : call.trigger_type;
  const size_t h = quick_hash(call.function_id) ^ (quick_hash(call.callee_worker_id) << 1) ^
                   (quick_hash(call.caller_worker_id) << 2) ^ quick_hash(trigger);
  Slot& slot = cache[h % kSlots];
  if (slot.hub == hub.id() && slot.names && slot.names->function_id == call.function_id &&
      slot.names->callee_worker_id == call.callee_worker_id && slot.names->caller_worker_id == call.caller_worker_id &&
      slot.names->trigger_type == trigger)
    return slot.names;
  auto names = std::make_shared<CallNames>();
  names->function_id = call.function_id;
  names->callee_worker_id = call.callee_worker_id;
  names->caller_worker_id = call.caller_worker_id;
  names->trigger_type = trigger;
  names->span_name = "call " + names->function_id;
  names->service_name = hub.config().service_name;
  names->internal = call.function_id.starts_with("engine::");
  names->counters = &hub.metrics().counters_for(names->function_id);
  slot = Slot{hub.id(), names};
  return names;
}

class Observation final : public CallObservation {
 public:
  Observation(std::shared_ptr<TelemetryHub> hub, std::shared_ptr<const CallNames> names)
      : hub_(std::move(hub)), names_(std::move(names)), started_(std::chrono::steady_clock::now()) {}

  // Opens the span (a sampled call): ids, start, and the traceparent the callee gets.
  void open(const CallStart& call, const std::array<uint8_t, 16>& trace_id, const TraceParentBytes* parent) {
    sampled_ = true;
    span_.trace_id = trace_id;
    random_id_bytes(span_.span_id.data(), span_.span_id.size());
    if (parent) span_.parent_span_id = parent->span_id;
    if (call.invocation_id_bytes) span_.invocation_id = *call.invocation_id_bytes;
    else uuid_bytes(call.invocation_id, span_.invocation_id);
    span_.start_time_unix_nano = unix_nanos_at(started_);
    span_.kind = call.trigger_type == "http" ? 2 : 1;
    span_.names = names_;
    static constexpr char kHex[] = "0123456789abcdef";
    char* out = child_;
    *out++ = '0', *out++ = '0', *out++ = '-';
    for (uint8_t b : span_.trace_id) *out++ = kHex[b >> 4], *out++ = kHex[b & 0xf];
    *out++ = '-';
    for (uint8_t b : span_.span_id) *out++ = kHex[b >> 4], *out++ = kHex[b & 0xf];
    *out++ = '-', *out++ = '0', *out++ = '1';
  }

  std::string_view child_traceparent() const override {
    return sampled_ ? std::string_view(child_, sizeof child_) : std::string_view();
  }

  void finish(const Outcome& outcome) override {
    const auto nanos = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_).count());
    if (hub_->config().metrics_enabled) hub_->metrics().record_call(*names_->counters, outcome.ok(), nanos);
    if (!sampled_) return;
    span_.end_time_unix_nano = span_.start_time_unix_nano + nanos;
    span_.status = outcome.ok() ? SpanStatus::kOk : SpanStatus::kError;
    if (!outcome.ok()) span_.error = std::make_shared<const CallError>(CallError{outcome.error->code, outcome.error->message});
    hub_->submit_engine_span(std::move(span_));
  }

 private:
  const std::shared_ptr<TelemetryHub> hub_;
  const std::shared_ptr<const CallNames> names_;
  const std::chrono::steady_clock::time_point started_;
  bool sampled_ = false;
  EngineSpan span_;
  char child_[55];
};

}  // namespace

std::shared_ptr<CallObservation> CallTracer::begin(const CallStart& call) {
  if (retired_.load(std::memory_order_acquire)) return nullptr;
  std::optional<TraceParentBytes> parent;
  if (!call.traceparent.empty()) parent = parse_traceparent_bytes(call.traceparent);
  std::array<uint8_t, 16> trace_id;
  if (parent) trace_id = parent->trace_id;
  else random_id_bytes(trace_id.data(), trace_id.size());
  auto observation = std::make_shared<Observation>(hub_, names_of(call, *hub_));
  if (hub_->sampler().sample(call.function_id, trace_id, ParentSample{parent.has_value(), parent && parent->sampled()}))
    observation->open(call, trace_id, parent ? &*parent : nullptr);
  return observation;
}

void CallTracer::deferred(std::string_view) {
  if (!retired_.load(std::memory_order_acquire) && hub_->config().metrics_enabled) hub_->metrics().record_deferred();
}

void CallTracer::telemetry(std::string_view worker_id, std::string_view frame) {
  if (retired_.load(std::memory_order_acquire)) return;
  if (TelemetryIngest* in = ingest()) in->offer(worker_id, frame);
}

TelemetryIngest* CallTracer::ingest() {
  if (TelemetryIngest* in = ingest_ptr_.load(std::memory_order_acquire)) return in;
  std::lock_guard lock(ingest_mu_);
  if (retired_.load(std::memory_order_acquire)) return nullptr;
  if (!ingest_) {
    ingest_ = std::make_unique<TelemetryIngest>(hub_);
    ingest_ptr_.store(ingest_.get(), std::memory_order_release);
  }
  return ingest_.get();
}

void CallTracer::retire() {
  retired_.store(true, std::memory_order_release);
  std::lock_guard lock(ingest_mu_);
  if (ingest_) ingest_->stop();  // refuses new frames, ingests the queued ones
}

void CallTracer::flush_telemetry() {
  std::lock_guard lock(ingest_mu_);
  if (ingest_) ingest_->flush();
}

}  // namespace iii::obs
