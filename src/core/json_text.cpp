#include "core/json_text.h"

#include <boost/json/parse.hpp>

#include <charconv>
#include <cmath>

#include "wire/json_writer.h"

namespace iii::json_text {

std::optional<boost::json::value> parse(std::string_view text, std::string* error) {
  boost::json::parse_options options;
  options.max_depth = json_depth_limit();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (ec) {
    if (error) *error = ec.message();
    return std::nullopt;
  }
  return v;
}

void append(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; return;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; return;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); return;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); return;
    case boost::json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
        return;
      }
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
      out += text;
      if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
      return;
    }
    case boost::json::kind::string: append_json_string(out, v.get_string()); return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const boost::json::value& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        append(out, item);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, kv.key());
        out += ':';
        append(out, kv.value());
      }
      out += '}';
      return;
    }
  }
}

std::string serialize(const boost::json::value& v) {
  std::string out;
  append(out, v);
  return out;
}

std::string describe(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return std::string("boolean `") + (v.get_bool() ? "true" : "false") + "`";
    case boost::json::kind::int64: return "integer `" + std::to_string(v.get_int64()) + "`";
    case boost::json::kind::uint64: return "integer `" + std::to_string(v.get_uint64()) + "`";
    case boost::json::kind::double_: return "floating point `" + serialize(v) + "`";
    case boost::json::kind::string: return "string " + serialize(v);
    case boost::json::kind::array: return "sequence";
    case boost::json::kind::object: return "map";
  }
  return "value";
}

const char* type_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "number";
    case boost::json::kind::string: return "string";
    case boost::json::kind::array: return "array";
    case boost::json::kind::object: return "object";
  }
  return "value";
}

}  // namespace iii::json_text
