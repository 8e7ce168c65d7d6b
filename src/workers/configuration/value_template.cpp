#include "workers/configuration/value_template.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "workers/yaml_json.h"

namespace iii::value_template {
namespace {

namespace json = boost::json;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// "${...}" with no `}` inside: the one-placeholder shape that is re-typed.
bool lone_placeholder(std::string_view s) {
  s = trim(s);
  return s.size() >= 3 && s.starts_with("${") && s.back() == '}' && s.find('}') == s.size() - 1;
}

json::value expand_string(std::string_view s, std::vector<std::string>& missing) {
  if (s.find("${") == std::string_view::npos) return json::string(s);
  std::string substituted = substitute(s, [&](const std::string& name, size_t) {
    if (std::find(missing.begin(), missing.end(), name) == missing.end()) missing.push_back(name);
  });
  if (lone_placeholder(s)) {
    const std::string_view text = trim(substituted);
    if (!text.empty()) return yaml_json::plain_scalar(text);
  }
  return json::string(substituted);
}

json::value expand_value(const json::value& v, std::vector<std::string>& missing) {
  switch (v.kind()) {
    case json::kind::string: return expand_string(v.get_string(), missing);
    case json::kind::array: {
      json::array out;
      out.reserve(v.get_array().size());
      for (const auto& item : v.get_array()) out.push_back(expand_value(item, missing));
      return out;
    }
    case json::kind::object: {
      json::object out;
      out.reserve(v.get_object().size());
      for (const auto& [key, item] : v.get_object()) out[key] = expand_value(item, missing);
      return out;
    }
    default: return v;
  }
}

}  // namespace

std::string substitute(std::string_view s, const std::function<void(const std::string& name, size_t offset)>& missing) {
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = s.find("${", pos);
    if (start == std::string_view::npos) break;
    const size_t close = s.find('}', start + 2);
    if (close == std::string_view::npos) break;
    const std::string_view inner = s.substr(start + 2, close - start - 2);
    const size_t colon = inner.find(':');
    const std::string name(inner.substr(0, colon));
    out.append(s.substr(pos, start - pos));
    pos = close + 1;
    if (name.empty()) {  // "${}" / "${:x}": not a placeholder
      out.append(s.substr(start, close + 1 - start));
    } else if (const char* env = std::getenv(name.c_str())) {
      out += env;
    } else if (colon != std::string_view::npos) {
      const std::string_view fallback = inner.substr(colon + 1);
      out += fallback == "__III_ENGINE_VERSION__" ? std::string_view(III_VERSION) : fallback;
    } else {
      missing(name, start);
      out.append(s.substr(start, close + 1 - start));
    }
  }
  out.append(s.substr(pos));
  return out;
}

Expanded expand(const json::value& value) {
  Expanded out;
  out.value = expand_value(value, out.missing);
  return out;
}

}  // namespace iii::value_template
