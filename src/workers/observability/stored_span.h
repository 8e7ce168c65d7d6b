// How spans are held between the call path and the queries (docs/observability.md "Cost"): the
// engine records one span per routed call, so its spans are kept compact — binary ids, times, and
// one shared, interned set of names (function, workers, trigger type) — and become a SpanRecord
// only when a query or the exporter reads them (the archive writes the compact form as it is). A span ingested from a worker is
// kept as the SpanRecord it was parsed into. StoredSpan is either.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "workers/observability/telemetry_records.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {

// The names of one kind of call, shared by every span of it.
struct FunctionCounters;

struct CallNames {
  std::string function_id, callee_worker_id, caller_worker_id, trigger_type;  // trigger: "call" for a direct call
  std::string span_name;     // "call <function id>"
  std::string service_name;  // the engine's service.name
  bool internal = false;     // an engine::* function
  FunctionCounters* counters = nullptr;  // the function's metrics row (owned by the hub's EngineMetrics)
};

struct CallError {
  std::string code, message;
};

// The engine's span of one call.
struct EngineSpan {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  std::array<uint8_t, 8> parent_span_id{};  // all zero for a root
  std::array<uint8_t, 16> invocation_id{};  // the UUID's bytes
  uint64_t start_time_unix_nano = 0, end_time_unix_nano = 0;
  SpanStatus status = SpanStatus::kUnset;
  uint8_t kind = 1;
  std::shared_ptr<const CallNames> names;
  std::shared_ptr<const CallError> error;  // set when it failed

  SpanRecord to_record() const;
};

// A canonical UUID's 16 bytes (dashes skipped); false when it is not one.
bool uuid_bytes(std::string_view uuid, std::array<uint8_t, 16>& out);

class StoredSpan {
 public:
  explicit StoredSpan(SpanPtr full) : full_(std::move(full)) {}
  explicit StoredSpan(EngineSpan compact) : compact_(std::move(compact)) {}

  // The span as a record (shared; made on demand for an engine span).
  SpanPtr record() const;
  bool is_engine_span() const { return !full_ || full_->engine_span; }
  // The compact form, or nullptr for a span held as a record.
  const EngineSpan* engine() const { return full_ ? nullptr : &compact_; }

  // What the stores and triggers read without making a record.
  std::string trace_id_hex() const;
  std::string span_id_hex() const;
  bool in_trace(const std::array<uint8_t, 16>& trace_id, std::string_view trace_id_hex) const;
  const std::string& name() const { return full_ ? full_->name : compact_.names->span_name; }
  const std::string& service_name() const { return full_ ? full_->service_name : compact_.names->service_name; }
  SpanStatus status() const { return full_ ? full_->status : compact_.status; }
  uint64_t start_time_unix_nano() const { return full_ ? full_->start_time_unix_nano : compact_.start_time_unix_nano; }
  uint64_t end_time_unix_nano() const { return full_ ? full_->end_time_unix_nano : compact_.end_time_unix_nano; }
  uint64_t duration_nanos() const {
    const uint64_t s = start_time_unix_nano(), e = end_time_unix_nano();
    return e > s ? e - s : 0;
  }
  bool internal() const;
  // Heap it holds (the shared names counted once per span, as if unshared: an upper bound).
  size_t approx_bytes() const;

 private:
  SpanPtr full_;
  EngineSpan compact_;
};

// Records (ingested, or read back from the archive) as stored spans.
std::vector<StoredSpan> stored_spans_of(std::vector<SpanRecord> records);

}  // namespace iii::obs
