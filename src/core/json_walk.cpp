#include "core/json_walk.h"

#include "wire/json_limits.h"

#include <cstring>

namespace iii::json_walk {
namespace {

using simdjson::ondemand::json_type;
using simdjson::ondemand::value;

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Whether the string whose text starts at `body` (just after its opening quote) holds a backslash
// before its closing quote. Stage 1 has already checked the whole document's UTF-8 and refused
// control characters inside strings, so escapes are all that is left to check, and a string
// without one needs no unescaping (which would copy it into the parser's buffer for nothing).
// The closing quote exists (stage 1 found it) and no NUL comes before it (a control character),
// so strcspn (vectorised in glibc) stops at the closing quote or at the first backslash before it.
bool has_escape(const char* body) { return body[std::strcspn(body, "\"\\")] == '\\'; }

}  // namespace

simdjson::error_code check(value v, size_t depth) {
  json_type type;
  if (auto err = v.type().get(type)) return err;
  switch (type) {
    case json_type::object: {
      if (depth > json_depth_limit()) return simdjson::DEPTH_ERROR;
      simdjson::ondemand::object o;
      if (auto err = v.get_object().get(o)) return err;
      for (auto f : o) {
        simdjson::ondemand::field field;
        std::string_view key;
        if (auto err = std::move(f).get(field)) return err;
        if (has_escape(field.key().raw()) && field.unescaped_key().get(key)) return simdjson::STRING_ERROR;
        if (auto err = check(field.value(), depth + 1)) return err;
      }
      return simdjson::SUCCESS;
    }
    case json_type::array: {
      if (depth > json_depth_limit()) return simdjson::DEPTH_ERROR;
      simdjson::ondemand::array a;
      if (auto err = v.get_array().get(a)) return err;
      for (auto e : a) {
        value element;
        if (auto err = std::move(e).get(element)) return err;
        if (auto err = check(element, depth + 1)) return err;
      }
      return simdjson::SUCCESS;
    }
    case json_type::string: {
      // Consumed either way: left for the iterator around it to skip, a string followed by a
      // stray ':' would be taken for a key and the walk would go on past the malformed text.
      if (!has_escape(v.raw_json_token().data() + 1)) {
        simdjson::ondemand::raw_json_string ignored;
        return v.get_raw_json_string().get(ignored);
      }
      std::string_view ignored;
      return v.get_string().get(ignored);
    }
    case json_type::number: {
      simdjson::ondemand::number ignored;
      return v.get_number().get(ignored);
    }
    case json_type::boolean: {
      bool ignored;
      return v.get_bool().get(ignored);
    }
    case json_type::null: {
      bool is_null = false;
      if (auto err = v.is_null().get(is_null)) return err;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

simdjson::error_code raw_text(simdjson::ondemand::document& doc, value v, size_t depth, std::string_view& text,
                              json_type& type) {
  const std::string_view token = v.raw_json_token();
  if (auto err = v.type().get(type)) return err;
  if (auto err = check(v, depth)) return err;
  if (type != json_type::object && type != json_type::array) {
    text = trim_right(token);
    return simdjson::SUCCESS;
  }
  const char* end = nullptr;
  if (doc.current_location().get(end) || end < token.data()) return simdjson::TAPE_ERROR;
  text = trim_right(std::string_view(token.data(), static_cast<size_t>(end - token.data())));
  return simdjson::SUCCESS;
}

}  // namespace iii::json_walk
