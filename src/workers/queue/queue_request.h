// The request object of an iii-queue function, read once: each top-level field kept as its raw
// JSON text, so a payload (`data`) is stored exactly as the caller wrote it, never re-serialized.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "workers/function_input.h"

namespace iii {

// Bad input: the function answers deserialization_error with this message and changes nothing
// (the same error as the other built-ins' FunctionInput).
using RequestError = InputError;

class QueueRequest {
 public:
  // Absent, empty or null data reads as {}. Throws RequestError for invalid JSON or a non-object.
  explicit QueueRequest(std::string_view json);

  // The field's raw JSON text; nullopt when absent or null.
  std::optional<std::string_view> raw(std::string_view key) const;
  // A string field; nullopt when absent or null. Throws RequestError for another type.
  std::optional<std::string> string(std::string_view key) const;
  // A whole number field; nullopt when absent or null. Throws RequestError otherwise.
  std::optional<uint64_t> integer(std::string_view key) const;

  // The trace context of the call that carried this request (the engine's span of it when traced):
  // what a message stores, so that every delivery continues the enqueuer's trace.
  std::string call_traceparent;

 private:
  std::map<std::string, std::string, std::less<>> fields_;
};

}  // namespace iii
