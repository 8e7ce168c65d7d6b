// The ErrorBody shape shared by every failed invocation (docs/protocol.md §2.14) and the outcome
// of an invocation: a raw JSON result or an error.
#pragma once
#include <optional>
#include <string>

namespace iii {

struct ErrorBody {
  std::string code;
  std::string message;
  std::optional<std::string> stacktrace;

  // {"code":..,"message":..[,"stacktrace":..]}; stacktrace omitted when absent.
  std::string to_json() const;
};

// Error codes the engine itself produces (docs/protocol.md §5).
namespace codes {
inline constexpr const char* kFunctionNotFound = "function_not_found";
inline constexpr const char* kInvocationStopped = "invocation_stopped";
inline constexpr const char* kTimeout = "timeout";
inline constexpr const char* kEnqueueError = "enqueue_error";
inline constexpr const char* kChannelSendFailed = "channel_send_failed";
inline constexpr const char* kTriggerRegistrationFailed = "trigger_registration_failed";
inline constexpr const char* kDeserializationError = "deserialization_error";
inline constexpr const char* kInvalidArguments = "INVALID_ARGUMENTS";
inline constexpr const char* kNotFound = "NOT_FOUND";
inline constexpr const char* kUnregisterFailed = "unregister_failed";
inline constexpr const char* kForbidden = "FORBIDDEN";                     // an RBAC denial (docs/security.md)
inline constexpr const char* kRegistrationDenied = "REGISTRATION_DENIED";  // a trigger registration denied by RBAC
}  // namespace codes

// What an invocation produced. `result` is raw JSON text; empty means "no value".
struct Outcome {
  std::string result;
  std::optional<ErrorBody> error;

  static Outcome success(std::string raw_json) { return Outcome{std::move(raw_json), std::nullopt}; }
  static Outcome failure(std::string code, std::string message) {
    return Outcome{{}, ErrorBody{std::move(code), std::move(message), std::nullopt}};
  }
  bool ok() const { return !error.has_value(); }
};

}  // namespace iii
