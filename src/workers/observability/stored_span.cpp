#include "workers/observability/stored_span.h"

#include "wire/json_writer.h"
#include "workers/observability/span_store.h"

namespace iii::obs {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

bool all_zero(const std::array<uint8_t, 8>& a) {
  for (uint8_t b : a)
    if (b) return false;
  return true;
}

std::string uuid_text(const std::array<uint8_t, 16>& b) {
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0xf];
  }
  return out;
}

}  // namespace

bool uuid_bytes(std::string_view uuid, std::array<uint8_t, 16>& out) {
  if (uuid.size() != 36) return false;
  char hex[32];
  size_t n = 0;
  for (char c : uuid)
    if (c != '-' && n < 32) hex[n++] = c;
  return n == 32 && from_hex(std::string_view(hex, 32), out);
}

SpanRecord EngineSpan::to_record() const {
  SpanRecord s;
  s.trace_id = to_hex(trace_id);
  s.span_id = to_hex(span_id);
  if (!all_zero(parent_span_id)) s.parent_span_id = to_hex(parent_span_id);
  s.name = names->span_name;
  s.kind = kind;
  s.start_time_unix_nano = start_time_unix_nano;
  s.end_time_unix_nano = end_time_unix_nano;
  s.status = status;
  s.service_name = names->service_name;
  s.scope_name = "iii-engine";
  s.engine_span = true;
  s.attributes.reserve(6);
  s.attributes.push_back({"iii.function.id", json_string(names->function_id)});
  s.attributes.push_back({"iii.invocation.id", json_string(uuid_text(invocation_id))});
  s.attributes.push_back({"iii.worker.id", json_string(names->callee_worker_id)});
  s.attributes.push_back({"iii.trigger.type", json_string(names->trigger_type)});
  if (!names->caller_worker_id.empty())
    s.attributes.push_back({"iii.caller.worker_id", json_string(names->caller_worker_id)});
  if (error) {
    s.status_message = error->message;
    s.attributes.push_back({"iii.error.code", json_string(error->code)});
  }
  return s;
}

std::vector<StoredSpan> stored_spans_of(std::vector<SpanRecord> records) {
  std::vector<StoredSpan> out;
  out.reserve(records.size());
  for (SpanRecord& r : records) out.emplace_back(std::make_shared<const SpanRecord>(std::move(r)));
  return out;
}

SpanPtr StoredSpan::record() const {
  return full_ ? full_ : std::make_shared<const SpanRecord>(compact_.to_record());
}

std::string StoredSpan::trace_id_hex() const { return full_ ? full_->trace_id : to_hex(compact_.trace_id); }
std::string StoredSpan::span_id_hex() const { return full_ ? full_->span_id : to_hex(compact_.span_id); }

bool StoredSpan::in_trace(const std::array<uint8_t, 16>& trace_id, std::string_view hex) const {
  return full_ ? full_->trace_id == hex : compact_.trace_id == trace_id;
}

bool StoredSpan::internal() const { return full_ ? is_internal_span(*full_) : compact_.names->internal; }

size_t StoredSpan::approx_bytes() const {
  if (full_) return sizeof(StoredSpan) + full_->approx_bytes();
  // The names are shared by every call of one kind: count a share, not the whole.
  return sizeof(StoredSpan) + (compact_.error ? sizeof(CallError) + compact_.error->message.capacity() + 48 : 0);
}

}  // namespace iii::obs
