#include "frames.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <boost/json.hpp>

#ifndef III_VERSION
#define III_VERSION "0.22.1"
#endif

namespace iii::detail {
namespace {

std::string to_text(const json::object& frame) { return json::serialize(frame); }

void put_if_not_null(json::object& frame, const char* key, const json::value& value) {
  if (!value.is_null()) frame[key] = value;
}

json::object error_object(const WireError& error) {
  json::object body{{"code", error.code}, {"message", error.message}};
  if (error.stacktrace) body["stacktrace"] = *error.stacktrace;
  return body;
}

std::string os_description() {
  struct utsname info {};
  if (uname(&info) != 0) return "unknown";
  return std::string(info.sysname) + " " + info.release + " (" + info.machine + ")";
}

}  // namespace

std::string register_function_frame(const std::string& id, const FunctionOptions& options) {
  json::object frame{{"type", "registerfunction"}, {"id", id}};
  if (!options.description.empty()) frame["description"] = options.description;
  put_if_not_null(frame, "request_format", options.request_format);
  put_if_not_null(frame, "response_format", options.response_format);
  put_if_not_null(frame, "metadata", options.metadata);
  return to_text(frame);
}

std::string unregister_function_frame(const std::string& id) {
  return to_text({{"type", "unregisterfunction"}, {"id", id}});
}

std::string register_trigger_type_frame(const std::string& id, const std::string& description,
                                        const TriggerTypeOptions& options) {
  // description is required by the reference engine, even when empty.
  json::object frame{{"type", "registertriggertype"}, {"id", id}, {"description", description}};
  put_if_not_null(frame, "trigger_request_format", options.trigger_request_format);
  put_if_not_null(frame, "call_request_format", options.call_request_format);
  return to_text(frame);
}

std::string unregister_trigger_type_frame(const std::string& id) {
  return to_text({{"type", "unregistertriggertype"}, {"id", id}});
}

std::string register_trigger_frame(const TriggerConfig& trigger) {
  json::object frame{{"type", "registertrigger"},
                     {"id", trigger.id},
                     {"trigger_type", trigger.trigger_type},
                     {"function_id", trigger.function_id},
                     {"config", trigger.config}};
  put_if_not_null(frame, "metadata", trigger.metadata);
  return to_text(frame);
}

std::string unregister_trigger_frame(const std::string& id, const std::string& trigger_type) {
  return to_text({{"type", "unregistertrigger"}, {"id", id}, {"trigger_type", trigger_type}});
}

std::string trigger_registration_result_frame(const TriggerConfig& trigger, const WireError* error) {
  json::object frame{{"type", "triggerregistrationresult"},
                     {"id", trigger.id},
                     {"trigger_type", trigger.trigger_type},
                     {"function_id", trigger.function_id}};
  if (error) frame["error"] = error_object(*error);
  return to_text(frame);
}

std::string invoke_function_frame(const std::string* invocation_id, const std::string& function_id,
                                  const json::value& data, const TriggerAction& action,
                                  const json::value& metadata) {
  json::object frame{{"type", "invokefunction"}};
  if (invocation_id) frame["invocation_id"] = *invocation_id;
  frame["function_id"] = function_id;
  frame["data"] = data;
  if (std::holds_alternative<Void>(action)) {
    frame["action"] = {{"type", "void"}};
  } else if (auto* enqueue = std::get_if<Enqueue>(&action)) {
    frame["action"] = {{"type", "enqueue"}, {"queue", enqueue->queue}};
  }
  put_if_not_null(frame, "metadata", metadata);
  return to_text(frame);
}

std::string invocation_result_frame(const std::string& invocation_id, const std::string& function_id,
                                    const json::value* result, const WireError* error) {
  json::object frame{{"type", "invocationresult"}, {"invocation_id", invocation_id}, {"function_id", function_id}};
  if (error) {
    frame["error"] = error_object(*error);
  } else if (result && !result->is_null()) {
    frame["result"] = *result;
  }
  return to_text(frame);
}

std::string reattach_frame(const std::string& previous_worker_id, const std::string& reattach_token) {
  json::object frame{{"type", "reattach"}, {"previous_worker_id", previous_worker_id}};
  if (!reattach_token.empty()) frame["reattach_token"] = reattach_token;
  return to_text(frame);
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
