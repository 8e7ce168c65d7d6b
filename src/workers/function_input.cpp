#include "workers/function_input.h"

#include "core/json_text.h"

namespace iii {

namespace json = boost::json;

FunctionInput::FunctionInput(std::string_view data) {
  if (data.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
  std::string error;
  std::optional<json::value> v = json_text::parse(data, &error);
  if (!v) throw InputError("invalid JSON: " + error);
  if (v->is_null()) return;
  if (!v->is_object()) throw InputError(std::string("invalid type: ") + json_text::type_name(*v) + ", expected a JSON object");
  object_ = std::move(v->get_object());
}

const json::value& FunctionInput::required(std::string_view key) const {
  const json::value* v = find(key);
  if (!v) throw InputError("missing field `" + std::string(key) + "`");
  return *v;
}

std::string FunctionInput::required_string(std::string_view key) const {
  const json::value& v = required(key);
  if (!v.is_string())
    throw InputError("field `" + std::string(key) + "`: invalid type: " + json_text::type_name(v) + ", expected a string");
  return std::string(v.get_string());
}

std::optional<std::string> FunctionInput::optional_string(std::string_view key) const {
  const json::value* v = find(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string())
    throw InputError("field `" + std::string(key) + "`: invalid type: " + json_text::type_name(*v) + ", expected a string");
  return std::string(v->get_string());
}

void read_members(std::string_view data, std::span<JsonMember> members) {
  if (std::string error = read_json_members(data, members); !error.empty()) throw InputError(error);
}

std::string required_string(JsonMember& member) {
  const std::string key(member.name);
  if (member.kind == JsonKind::kAbsent) throw InputError("missing field `" + key + "`");
  if (member.kind != JsonKind::kString)
    throw InputError("field `" + key + "`: invalid type: " + json_kind_name(member.kind) + ", expected a string");
  return std::move(member.text);
}

std::optional<ChangeAnswer> read_change_answer(std::string_view result) {
  const std::optional<json::value> v = json_text::parse(result.empty() ? std::string_view("null") : result);
  const json::object* o = v ? v->if_object() : nullptr;
  if (!o) return std::nullopt;
  auto raw = [&](std::string_view key) -> std::optional<std::string> {
    const json::value* x = o->if_contains(key);
    if (!x || x->is_null()) return std::nullopt;
    return json_text::serialize(*x);
  };
  return ChangeAnswer{raw("old_value"), raw("new_value")};
}

}  // namespace iii
