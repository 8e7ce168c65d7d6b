// The top-level members of a JSON object, read in one On-Demand pass without a DOM. For the
// built-ins' hot inputs (state::set, get, delete), which need two strings and the text of one
// value: a boost::json DOM of the whole input, and the value serialised back from it, cost more
// than the rest of such a call (bench/README.md, "The state rows, fourth round"). The whole text
// is checked as a frame is (core/json_walk.h); anything the fast pass does not take (invalid
// JSON, another top-level type, a depth the DOM would refuse) is read again with boost::json, so
// the answers and the errors are the DOM's.
#pragma once
#include <span>
#include <string>
#include <string_view>

namespace iii {

enum class JsonKind { kAbsent, kNull, kBoolean, kNumber, kString, kArray, kObject };
// "null", "boolean", "number", "string", "array", "object" (as json_text::type_name); "absent".
const char* json_kind_name(JsonKind kind);

struct JsonMember {
  JsonMember(std::string_view member_name, bool as_raw = false) : name(member_name), raw(as_raw) {}

  std::string_view name;  // the member to read
  bool raw = false;       // true: `text` is the value's JSON text, whatever its kind
  JsonKind kind = JsonKind::kAbsent;
  // A string's unescaped value (raw false); otherwise the value's JSON text: as given on the fast
  // pass, serialised from the DOM after a fallback.
  std::string text;
};

// Reads `json` into `members` (the last of duplicate names wins; members not named are checked
// and skipped). Blank text and null read as {}. Returns "" or the error: "invalid JSON: <why>",
// or "invalid type: <kind>, expected a JSON object".
std::string read_json_members(std::string_view json, std::span<JsonMember> members);

}  // namespace iii
