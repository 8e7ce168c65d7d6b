#include "core/endpoint.h"

#include "wire/json_writer.h"

namespace iii {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

void append_with_caller(std::string& out, std::string_view data, std::string_view worker_id) {
  size_t first = 0;
  while (first < data.size() && is_space(data[first])) ++first;
  size_t last = data.size();
  while (last > first && is_space(data[last - 1])) --last;
  if (first >= last || data[first] != '{' || data[last - 1] != '}') {
    out += data;
    return;
  }
  const size_t inner_end = last - 1;  // position of the closing brace
  size_t probe = inner_end;
  while (probe > first + 1 && is_space(data[probe - 1])) --probe;
  const bool empty_object = (probe == first + 1);
  out.append(data.data() + first, inner_end - first);
  if (!empty_object) out += ',';
  out += "\"_caller_worker_id\":";
  append_json_string(out, worker_id);
  out += '}';
}

std::string build_invoke_frame(const CallView& call) {
  // Sized for every field, so that the frame is built in one allocation (keys, quotes and the
  // spliced caller id fit in the constant).
  FrameWriter w(160 + call.invocation_id.size() + call.function_id.size() + call.data.size() + call.metadata.size() +
                call.traceparent.size() + call.baggage.size() + call.caller_worker_id.size());
  w.string("type", "invokefunction").string("invocation_id", call.invocation_id).string("function_id", call.function_id);
  if (call.inject_caller && !call.caller_worker_id.empty()) {
    w.raw_with("data", [&](std::string& out) { append_with_caller(out, call.data, call.caller_worker_id); });
  } else {
    w.raw("data", call.data.empty() ? std::string_view("null") : call.data);
  }
  if (!call.metadata.empty()) w.raw("metadata", call.metadata);
  if (!call.traceparent.empty()) w.string("traceparent", call.traceparent);
  if (!call.baggage.empty()) w.string("baggage", call.baggage);
  return w.finish();
}

void RemoteEndpoint::deliver(const CallView& call) { send(build_invoke_frame(call)); }

std::optional<ErrorBody> RemoteEndpoint::activate_trigger(const TriggerBinding& b) {
  FrameWriter w(128 + b.config.size() + b.metadata.size());
  w.string("type", "registertrigger").string("id", b.id).string("trigger_type", b.trigger_type);
  w.string("function_id", b.function_id).raw("config", b.config.empty() ? "null" : b.config);
  if (!b.metadata.empty()) w.raw("metadata", b.metadata);
  send(w.finish());
  return std::nullopt;
}

void RemoteEndpoint::deactivate_trigger(const TriggerBinding& b) {
  send(FrameWriter().string("type", "unregistertrigger").string("id", b.id).string("trigger_type", b.trigger_type).finish());
}

}  // namespace iii
