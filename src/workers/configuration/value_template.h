// `${VAR:default}` placeholders inside configuration values (docs/builtins.md §7.2): stored as
// written, expanded against the engine's environment on every read, so a changed variable is
// seen without re-registering anything.
//
// Grammar, as the official engine reads it: `${NAME}` or `${NAME:default}`, NAME being one or
// more characters other than `}` and `:`, the default anything up to the next `}`. A set
// variable wins (even when empty); else the default; the default `__III_ENGINE_VERSION__` is the
// engine version. Every string in the value (at any depth; never object keys) is expanded.
//
// Re-typing: a string that is exactly one placeholder (spaces around it allowed) becomes what a
// plain YAML scalar with the substituted text would be: "${PORT:8080}" → 8080, "${ON:true}" →
// true, while "on", "007"-like bare words stay strings (yaml_json.h). An empty result stays ""
// (`${X:}`), never null. A string with other text around the placeholder stays a string.
#pragma once
#include <boost/json/value.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace iii::value_template {

struct Expanded {
  boost::json::value value;
  // Variables that are unset and have no default, in the order met: their placeholders are left
  // as written in `value`, which must then not be used.
  std::vector<std::string> missing;
};

Expanded expand(const boost::json::value& value);

// The grammar above on one text, shared with the config file's substitution (docs/config.md §4):
// every placeholder replaced; for a variable that is unset and has no default, `missing(name,
// offset of its "${")` is called (it may throw) and the placeholder is kept as written.
std::string substitute(std::string_view text, const std::function<void(const std::string& name, size_t offset)>& missing);

}  // namespace iii::value_template
