// The request object of a built-in function, read strictly: what state::* and stream::* share.
// A bad request throws InputError, which the function answers as deserialization_error.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/json_members.h"

namespace iii {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class FunctionInput {
 public:
  // Parses raw JSON. Absent (blank) or null data reads as {} (and then misses its required
  // fields); anything but an object throws.
  explicit FunctionInput(std::string_view data);

  // The field as given (JSON null included), or null when absent.
  const boost::json::value* find(std::string_view key) const { return object_.if_contains(key); }
  const boost::json::value& required(std::string_view key) const;
  std::string required_string(std::string_view key) const;
  // A string field that may be absent or null.
  std::optional<std::string> optional_string(std::string_view key) const;

 private:
  boost::json::object object_;
};

// The same reading for a few top-level members, without a DOM (core/json_members.h): for the hot
// functions (state::set, get, delete). Throws InputError with FunctionInput's messages.
void read_members(std::string_view data, std::span<JsonMember> members);
// The member's string, moved out; FunctionInput::required_string's errors.
std::string required_string(JsonMember& member);

// What a write of state or streams answered when another function did it (a custom stream
// backend, the bridge adapter): {"old_value","new_value"} (either may be missing), each as raw
// JSON, nullopt when missing or null. nullopt when `result` is not a JSON object.
struct ChangeAnswer {
  std::optional<std::string> old_value, new_value;
};
std::optional<ChangeAnswer> read_change_answer(std::string_view result);

}  // namespace iii
