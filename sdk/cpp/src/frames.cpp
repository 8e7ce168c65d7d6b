// Outbound frames are written by hand into one pre-sized string: the envelope with the core's
// JSON string escaping, user values (payloads, results, schemas) streamed by boost::json's
// serializer straight into the same buffer. Building a json::object first would deep-copy every
// payload and allocate per key; the byte output is the same as json::serialize of that object
// (same key order, same escaping), which tests/unit/sdk_frames_test.cpp checks.
#include "frames.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "wire/json_writer.h"

#ifndef III_VERSION
#define III_VERSION "0.22.1"
#endif

namespace iii::detail {
namespace {

// Appends json::serialize(value) to `out` without a temporary string.
void append_json_value(std::string& out, const json::value& value) {
  // One serializer per thread: its depth stack is kept between frames instead of re-grown.
  thread_local json::serializer serializer;
  serializer.reset(&value);
  while (!serializer.done()) {
    const std::size_t used = out.size();
    const std::size_t room = std::max<std::size_t>(out.capacity() - used, 256);
    out.resize(used + room);
    const std::size_t written = serializer.read(out.data() + used, room).size();
    out.resize(used + written);
  }
}

// Writes `{"k":v,...}` field by field. Keys are compile-time literals that never need escaping.
class Envelope {
 public:
  // `reserve`: the envelope's own bytes; strings and values passed later are added to it.
  Envelope(std::string_view type, std::size_t reserve) : Envelope(own_, type, reserve) {}
  // Writes into `out` (cleared first; its capacity is kept), for a caller that reuses a buffer.
  Envelope(std::string& out, std::string_view type, std::size_t reserve) : out_(out) {
    out_.clear();
    out_.reserve(reserve + 32);
    out_ += R"({"type":")";
    out_ += type;  // a protocol literal: nothing to escape
    out_ += '"';
  }
  Envelope& string(std::string_view key, std::string_view value) {
    begin(key);
    append_json_string(out_, value);
    return *this;
  }
  Envelope& value(std::string_view key, const json::value& value) {
    begin(key);
    append_json_value(out_, value);
    return *this;
  }
  Envelope& value_if_not_null(std::string_view key, const json::value& v) {
    return v.is_null() ? *this : value(key, v);
  }
  Envelope& raw(std::string_view key, std::string_view json) {
    begin(key);
    out_ += json;
    return *this;
  }
  Envelope& error(const WireError& error) {
    begin("error");
    out_ += R"({"code":)";
    append_json_string(out_, error.code);
    out_ += R"(,"message":)";
    append_json_string(out_, error.message);
    if (error.stacktrace) {
      out_ += R"(,"stacktrace":)";
      append_json_string(out_, *error.stacktrace);
    }
    out_ += '}';
    return *this;
  }
  std::string finish() {
    out_ += '}';
    return std::move(out_);
  }
  void finish_in_place() { out_ += '}'; }
  Envelope(const Envelope&) = delete;  // out_ may refer to own_
  Envelope& operator=(const Envelope&) = delete;

 private:
  void begin(std::string_view key) {
    out_ += ",\"";
    out_ += key;
    out_ += "\":";
  }
  std::string own_;
  std::string& out_;
};

// Room for a string field: quotes, key and a little escaping.
constexpr std::size_t field(std::string_view value) { return value.size() + 24; }

// A first guess at a value's text size, so small payloads need no regrowth.
std::size_t value_room(const json::value& value) {
  if (const auto* s = value.if_string()) return s->size() + 8;
  return value.is_structured() ? 256 : 32;
}

std::string os_description() {
  struct utsname info {};
  if (uname(&info) != 0) return "unknown";
  return std::string(info.sysname) + " " + info.release + " (" + info.machine + ")";
}

}  // namespace

std::string register_function_frame(const std::string& id, const FunctionOptions& options,
                                    const json::value& invocation) {
  Envelope frame("registerfunction", field(id) + field(options.description) + 256);
  frame.string("id", id);
  if (!options.description.empty()) frame.string("description", options.description);
  frame.value_if_not_null("request_format", options.request_format)
      .value_if_not_null("response_format", options.response_format)
      .value_if_not_null("metadata", options.metadata)
      .value_if_not_null("invocation", invocation);
  return frame.finish();
}

json::value invocation_object(const HttpInvocation& invocation) {
  json::object o;
  o["url"] = invocation.url;
  o["method"] = invocation.method;
  if (invocation.timeout_ms > 0) o["timeout_ms"] = invocation.timeout_ms;
  if (!invocation.headers.is_null()) o["headers"] = invocation.headers;
  if (!invocation.auth.is_null()) o["auth"] = invocation.auth;
  return o;
}

std::string unregister_function_frame(const std::string& id) {
  return Envelope("unregisterfunction", field(id)).string("id", id).finish();
}

std::string register_trigger_type_frame(const std::string& id, const std::string& description,
                                        const TriggerTypeOptions& options) {
  // description is required by the reference engine, even when empty.
  Envelope frame("registertriggertype", field(id) + field(description) + 256);
  frame.string("id", id)
      .string("description", description)
      .value_if_not_null("trigger_request_format", options.trigger_request_format)
      .value_if_not_null("call_request_format", options.call_request_format);
  return frame.finish();
}

std::string unregister_trigger_type_frame(const std::string& id) {
  return Envelope("unregistertriggertype", field(id)).string("id", id).finish();
}

std::string register_trigger_frame(const TriggerConfig& trigger) {
  Envelope frame("registertrigger", field(trigger.id) + field(trigger.trigger_type) + field(trigger.function_id) +
                                        value_room(trigger.config) + value_room(trigger.metadata));
  frame.string("id", trigger.id)
      .string("trigger_type", trigger.trigger_type)
      .string("function_id", trigger.function_id)
      .value("config", trigger.config)  // explicit null when unset
      .value_if_not_null("metadata", trigger.metadata);
  return frame.finish();
}

std::string unregister_trigger_frame(const std::string& id, const std::string& trigger_type) {
  return Envelope("unregistertrigger", field(id) + field(trigger_type))
      .string("id", id)
      .string("trigger_type", trigger_type)
      .finish();
}

std::string trigger_registration_result_frame(const TriggerConfig& trigger, const WireError* error) {
  Envelope frame("triggerregistrationresult",
                 field(trigger.id) + field(trigger.trigger_type) + field(trigger.function_id) + (error ? 128 : 0));
  frame.string("id", trigger.id).string("trigger_type", trigger.trigger_type).string("function_id", trigger.function_id);
  if (error) frame.error(*error);
  return frame.finish();
}

std::string invoke_function_frame(const std::string* invocation_id, const std::string& function_id,
                                  const json::value& data, const TriggerAction& action,
                                  const json::value& metadata, const std::string* data_json) {
  std::string out;
  write_invoke_function_frame(out, invocation_id, function_id, data, action, metadata, data_json);
  return out;
}

void write_invoke_function_frame(std::string& out, const std::string* invocation_id, const std::string& function_id,
                                 const json::value& data, const TriggerAction& action, const json::value& metadata,
                                 const std::string* data_json) {
  Envelope frame(out, "invokefunction", (invocation_id ? field(*invocation_id) : 0) + field(function_id) +
                                            (data_json ? data_json->size() + 16 : value_room(data)) + 48 +
                                            (metadata.is_null() ? 0 : value_room(metadata)));
  if (invocation_id) frame.string("invocation_id", *invocation_id);
  frame.string("function_id", function_id);
  if (data_json) frame.raw("data", *data_json);  // data is always sent, null included
  else frame.value("data", data);
  if (std::holds_alternative<Void>(action)) {
    frame.raw("action", R"({"type":"void"})");
  } else if (auto* enqueue = std::get_if<Enqueue>(&action)) {
    std::string body = R"({"type":"enqueue","queue":)";
    append_json_string(body, enqueue->queue);
    body += '}';
    frame.raw("action", body);
  }
  frame.value_if_not_null("metadata", metadata);
  frame.finish_in_place();
}

std::string invocation_result_frame(const std::string& invocation_id, const std::string& function_id,
                                    const json::value* result, const WireError* error) {
  std::string out;
  write_invocation_result_frame(out, invocation_id, function_id, result, error);
  return out;
}

void write_invocation_result_frame(std::string& out, const std::string& invocation_id, const std::string& function_id,
                                   const json::value* result, const WireError* error) {
  Envelope frame(out, "invocationresult", field(invocation_id) + field(function_id) +
                                              (error ? 128 : result ? value_room(*result) : 0));
  frame.string("invocation_id", invocation_id).string("function_id", function_id);
  if (error) {
    frame.error(*error);
  } else if (result && !result->is_null()) {
    frame.value("result", *result);
  }
  frame.finish_in_place();
}

void write_raw_invocation_result_frame(std::string& out, const std::string& invocation_id,
                                       const std::string& function_id, std::string_view result_json) {
  Envelope frame(out, "invocationresult", field(invocation_id) + field(function_id) + result_json.size() + 16);
  frame.string("invocation_id", invocation_id).string("function_id", function_id);
  if (!result_json.empty() && result_json != "null") frame.raw("result", result_json);
  frame.finish_in_place();
}

std::string& frame_buffer() {
  thread_local std::string buffer;
  return buffer;
}

void release_frame_buffer(std::string& buffer) {
  constexpr std::size_t kKeep = 1 << 20;  // kept for payloads up to about this size
  if (buffer.capacity() > kKeep) std::string().swap(buffer);
}

std::string reattach_frame(const std::string& previous_worker_id, const std::string& reattach_token) {
  Envelope frame("reattach", field(previous_worker_id) + field(reattach_token));
  frame.string("previous_worker_id", previous_worker_id);
  if (!reattach_token.empty()) frame.string("reattach_token", reattach_token);
  return frame.finish();
}

std::string pong_frame() { return R"({"type":"pong"})"; }

json::value worker_metadata(const std::string& name, const std::string& description) {
  json::object data{{"runtime", "cpp"}, {"version", III_VERSION}, {"name", name}};
  if (!description.empty()) data["description"] = description;
  data["os"] = os_description();
  data["pid"] = static_cast<std::int64_t>(getpid());
  data["isolation"] = nullptr;
  data["telemetry"] = {{"framework", "iii-cpp"}};
  return data;
}

WireError parse_error_body(const json::value& error) {
  const auto* body = error.if_object();
  const json::value* code = body ? body->if_contains("code") : nullptr;
  const json::value* message = body ? body->if_contains("message") : nullptr;
  if (!code || !code->is_string() || !message || !message->is_string()) {
    return {"UNKNOWN", error.is_string() ? std::string(error.get_string()) : json::serialize(error), {}};
  }
  WireError out{std::string(code->get_string()), std::string(message->get_string()), std::nullopt};
  if (const auto* trace = body->if_contains("stacktrace"); trace && trace->is_string()) {
    out.stacktrace = std::string(trace->get_string());
  }
  return out;
}

}  // namespace iii::detail
