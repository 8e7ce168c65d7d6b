// Parsing of one worker → engine protocol frame (docs/protocol.md §1.3, §2).
//
// The parser is lenient where the protocol asks for it: `type` may be anywhere, unknown keys are
// ignored, absent and null optionals are the same, a missing `data`/`config` reads as null.
// Nested values (`data`, `result`, `config`, `metadata`, formats) are kept as raw JSON text:
// validated, never re-serialized, so they can be spliced into outgoing frames untouched.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "core/error_body.h"

namespace iii {

enum class MessageType {
  kUnknown,
  kRegisterFunction,
  kUnregisterFunction,
  kRegisterTriggerType,
  kUnregisterTriggerType,
  kRegisterTrigger,
  kUnregisterTrigger,
  kTriggerRegistrationResult,
  kRegisterService,
  kInvokeFunction,
  kInvocationResult,
  kReattach,
  kPing,
  kPong,
  kWorkerRegistered,
};

enum class ActionKind { kSync, kVoid, kEnqueue };

// One parsed message. String views point into buffers owned by the parsing thread and are valid
// only until the next parse_message() call on the same thread: copy what you keep.
struct Message {
  MessageType type = MessageType::kUnknown;
  std::string_view type_name;

  // Plain string fields, unescaped. Absent or null ⇒ nullopt.
  std::optional<std::string_view> id, function_id, trigger_type, description, invocation_id,
      previous_worker_id, reattach_token, traceparent, baggage, name, parent_service_id;

  // Raw JSON values. Absent or null ⇒ nullopt (callers substitute "null" where a value is due).
  std::optional<std::string_view> data, result, config, metadata, request_format, response_format,
      trigger_request_format, call_request_format, invocation;

  std::optional<ErrorBody> error;  // coerced leniently into code/message/stacktrace
  ActionKind action = ActionKind::kSync;
  std::optional<std::string_view> action_queue;
};

// Parses `frame` into `out`. Returns an empty string on success, else a human-readable reason
// ("not a JSON object", "missing \"type\"", "field \"id\" must be a string", …).
// Whether required fields are present is checked by validate_required() below, per type.
// `readable_after`: bytes past the frame's end that may be read (content unspecified); with at
// least 64 (simdjson's padding, which a WebSocket reader leaves: ws::kMessagePadding) the frame is
// parsed where it lies, otherwise from a padded copy. The views in `out` then point into `frame`.
std::string parse_message(std::string_view frame, Message& out, size_t readable_after = 0);

// Checks the fields each message type cannot do without. Returns "" or the reason.
std::string validate_required(const Message& msg);

// Parses `type` names like "invokefunction".
MessageType message_type_from_name(std::string_view name);

// True when `text` is exactly one valid JSON value (surrounding whitespace allowed).
bool is_valid_json(std::string_view text);

}  // namespace iii
