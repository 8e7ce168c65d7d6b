#include "workers/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include "core/json_text.h"

namespace iii::yaml_json {

namespace json = boost::json;

json::value plain_scalar(std::string_view text) {
  const std::string s(text);
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(s.c_str(), &end, 10);
  if (end && *end == '\0' && errno == 0) return i;
  errno = 0;
  const double d = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && errno == 0 && s.find_first_of("0123456789") != std::string::npos) return d;
  return json::string(s);
}

json::value to_json(const YAML::Node& node) {
  if (!node) return nullptr;  // absent key
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") return json::string(node.Scalar());  // quoted: always a string
      return plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json::array out;
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json::object out;
      for (const auto& kv : node) out[kv.first.Scalar()] = to_json(kv.second);
      return out;
    }
  }
  return nullptr;
}

namespace {

void emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: out << YAML::Null; break;
    case json::kind::bool_: out << (v.get_bool() ? "true" : "false"); break;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: out << json_text::serialize(v); break;  // "3.0" stays a float
    case json::kind::string: {
      const std::string s(v.get_string());
      // A plain scalar that would read back as another type (or another string) is quoted.
      const json::value plain = plain_scalar(s);
      if (!plain.is_string()) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case json::kind::array:
      out << YAML::BeginSeq;
      for (const auto& item : v.get_array()) emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::kind::object:
      out << YAML::BeginMap;
      for (const auto& [key, item] : v.get_object()) {
        out << YAML::Key << std::string(key) << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      break;
  }
}

}  // namespace

std::string from_json(const json::value& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  if (!out.good()) throw std::runtime_error("cannot write YAML: " + out.GetLastError());
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace iii::yaml_json
