// Input decoding and JSON helpers of the iii-engine-functions worker.
#include <limits>

#include "wire/json_writer.h"
#include "workers/engine/engine_functions_internal.h"
#include "core/json_text.h"

namespace iii::engine_fn {
namespace {

using json_text::describe;

// Byte length of the UTF-8 sequence starting with `lead` (1 for stray continuation bytes).
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

}  // namespace

// --- Input ---

Input::Input(std::string_view data) {
  size_t first = data.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return;  // absent ⇒ {}
  std::string error;
  std::optional<json::value> parsed = json_text::parse(data, &error);
  if (!parsed) throw InputError("invalid JSON: " + error);
  json::value& v = *parsed;
  if (v.is_null()) return;
  if (!v.is_object()) throw InputError("invalid type: " + describe(v) + ", expected a JSON object");
  object_ = std::move(v.get_object());
}

void throw_invalid_type(std::string_view key, const json::value& v, std::string_view expected) {
  throw InputError("field `" + std::string(key) + "`: invalid type: " + describe(v) + ", expected " +
                   std::string(expected));
}

const json::value* Input::value(std::string_view key) const {
  const json::value* v = object_.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

std::optional<std::string> Input::string(std::string_view key) const {
  const json::value* v = value(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw_invalid_type(key, *v, "a string");
  return std::string(v->get_string());
}

std::string Input::required_string(std::string_view key) const {
  std::optional<std::string> s = string(key);
  if (!s) throw InputError("missing field `" + std::string(key) + "`");
  return *std::move(s);
}

std::optional<bool> Input::boolean(std::string_view key) const {
  const json::value* v = value(key);
  if (!v) return std::nullopt;
  if (!v->is_bool()) throw_invalid_type(key, *v, "a boolean");
  return v->get_bool();
}

std::optional<std::vector<std::string>> Input::strings(std::string_view key) const {
  const json::value* v = value(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) throw_invalid_type(key, *v, "a sequence of strings");
  std::vector<std::string> out;
  out.reserve(v->get_array().size());
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) throw_invalid_type(key, item, "a string");
    out.emplace_back(item.get_string());
  }
  return out;
}

std::optional<int64_t> Input::u32(std::string_view key) const {
  const json::value* v = value(key);
  if (!v) return std::nullopt;
  constexpr int64_t kMax = std::numeric_limits<uint32_t>::max();
  if (v->is_int64() && v->get_int64() >= 0 && v->get_int64() <= kMax) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(kMax)) return static_cast<int64_t>(v->get_uint64());
  if (v->is_int64() || v->is_uint64()) throw InputError("field `" + std::string(key) + "`: invalid value: " +
                                                        describe(*v) + ", expected u32");
  throw_invalid_type(key, *v, "u32");
}

Outcome deserialization_failure(std::string_view function_id, std::string_view detail) {
  return Outcome::failure(codes::kDeserializationError,
                          "Failed to deserialize input for " + std::string(function_id) + ": " + std::string(detail));
}

SyncFunctionHandler with_input(std::string function_id, InputBody body) {
  return [function_id = std::move(function_id), body = std::move(body)](const InProcessCall& call) -> Outcome {
    try {
      Input input(call.data);
      return body(input, call);
    } catch (const InputError& e) {
      return deserialization_failure(function_id, e.what());
    }
  };
}

// --- JSON helpers ---

json::value parse_raw(std::string_view raw) {
  if (raw.empty()) return nullptr;
  std::optional<json::value> v = json_text::parse(raw);
  return v ? std::move(*v) : json::value(nullptr);
}

std::string to_text(const json::value& v) { return json_text::serialize(v); }

std::string_view first_segment(std::string_view id) {
  size_t sep = id.find("::");
  return sep == std::string_view::npos ? id : id.substr(0, sep);
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool contains_folded(std::string_view haystack, std::string_view needle_lower) {
  return lowercase(haystack).find(needle_lower) != std::string::npos;
}

std::string config_summary(std::string_view raw_config) {
  constexpr size_t kMaxChars = 80;
  std::string compact = to_text(parse_raw(raw_config.empty() ? std::string_view("null") : raw_config));
  size_t pos = 0, chars = 0;
  while (pos < compact.size() && chars < kMaxChars) {
    pos += utf8_length(static_cast<unsigned char>(compact[pos]));
    ++chars;
  }
  if (pos >= compact.size()) return compact;
  compact.resize(pos);
  compact += "\xE2\x80\xA6";  // …
  return compact;
}

}  // namespace iii::engine_fn
