// The worker → engine frames the SDK sends, exactly as docs/protocol.md §2 shapes them.
// Optional fields are omitted when null/empty, except where the protocol wants an explicit null
// (registertrigger.config, invokefunction.data). Written by hand, byte-identical to
// json::serialize of the equivalent json::object (tests/unit/sdk_frames_test.cpp).
#pragma once
#include <optional>
#include <string>

#include "iii/iii.h"

namespace iii::detail {

struct WireError {
  std::string code;
  std::string message;
  std::optional<std::string> stacktrace;
};

// `invocation` non-null: an HTTP-invoked function (its `invocation` object).
std::string register_function_frame(const std::string& id, const FunctionOptions& options,
                                    const json::value& invocation = nullptr);
// The `invocation` object of an HTTP-invoked function.
json::value invocation_object(const HttpInvocation& invocation);
std::string unregister_function_frame(const std::string& id);
std::string register_trigger_type_frame(const std::string& id, const std::string& description,
                                        const TriggerTypeOptions& options);
std::string unregister_trigger_type_frame(const std::string& id);
std::string register_trigger_frame(const TriggerConfig& trigger);
std::string unregister_trigger_frame(const std::string& id, const std::string& trigger_type);
std::string trigger_registration_result_frame(const TriggerConfig& trigger, const WireError* error);

// `invocation_id` null: nobody waits for the result (void calls). `data_json` non-null: the
// payload's JSON text, written as it is instead of `data`.
std::string invoke_function_frame(const std::string* invocation_id, const std::string& function_id,
                                  const json::value& data, const TriggerAction& action,
                                  const json::value& metadata, const std::string* data_json = nullptr);
// `result` null or absent: "no result" (the key is omitted).
std::string invocation_result_frame(const std::string& invocation_id, const std::string& function_id,
                                    const json::value* result, const WireError* error);
// The same two frames written into `out` (cleared first, its capacity kept): the call path builds
// them in a buffer of its thread instead of allocating (and, for big payloads, page-faulting) a
// new string per frame.
void write_invoke_function_frame(std::string& out, const std::string* invocation_id, const std::string& function_id,
                                 const json::value& data, const TriggerAction& action, const json::value& metadata,
                                 const std::string* data_json = nullptr);
void write_invocation_result_frame(std::string& out, const std::string& invocation_id, const std::string& function_id,
                                   const json::value* result, const WireError* error);
// The result frame of a raw handler: `result_json` is its JSON text, written as it is (empty or
// "null": no result).
void write_raw_invocation_result_frame(std::string& out, const std::string& invocation_id,
                                       const std::string& function_id, std::string_view result_json);
// The calling thread's buffer for those frames; release_frame_buffer() after the frame was sent
// drops its memory if a big frame left it large.
std::string& frame_buffer();
void release_frame_buffer(std::string& buffer);
std::string reattach_frame(const std::string& previous_worker_id, const std::string& reattach_token);
std::string pong_frame();

// The engine::workers::register payload: runtime, version, name, description, os, pid, ...
json::value worker_metadata(const std::string& name, const std::string& description);

// Reads an ErrorBody leniently: anything malformed becomes {"code":"UNKNOWN", <text>}.
WireError parse_error_body(const json::value& error);

}  // namespace iii::detail
