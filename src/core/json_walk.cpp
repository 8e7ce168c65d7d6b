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

// Whether a string's text holds a backslash. Stage 1 has already checked the whole document's
// UTF-8 and refused control characters inside strings, so escapes are all that is left to check,
// and a string without one needs no unescaping (which would copy it into the parser's buffer for
// nothing). `text` runs from the string to the next token: past the closing quote it holds only
// whitespace (and a key's ':'), never a backslash. memchr, as the length is known, starts faster
// on short strings than a scan for the closing quote.
bool has_backslash(const char* begin, const char* end) {
  return std::memchr(begin, '\\', static_cast<size_t>(end - begin)) != nullptr;
}

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
        // The key runs from its opening quote to its value.
        if (has_backslash(field.key().raw(), field.value().raw_json_token().data()) && field.unescaped_key().get(key))
          return simdjson::STRING_ERROR;
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
      const std::string_view token = v.raw_json_token();
      if (!has_backslash(token.data(), token.data() + token.size())) {
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
