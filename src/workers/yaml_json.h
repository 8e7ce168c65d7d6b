// YAML documents as JSON values, both ways: how the config file's worker blocks
// (docs/config.md §2) and the configuration store's files (docs/builtins.md §7.2) are read, and
// how the store writes its files.
//
// Typing follows YAML 1.2's core schema, as the official engine's YAML library reads it: plain
// (unquoted) scalars become integers, floating-point numbers, `true`/`false` or null (`~`,
// `null`, empty); quoted scalars are always strings; `yes`, `no`, `on`, `off` stay strings.
#pragma once
#include <boost/json/value.hpp>
#include <yaml-cpp/node/node.h>

#include <string>
#include <string_view>

namespace iii::yaml_json {

// The JSON value of a parsed YAML node (an absent node reads as null). Mapping keys are taken as
// written (always strings).
boost::json::value to_json(const YAML::Node& node);

// The JSON value a plain scalar with this text has: 8080 → 8080, "true" → true, "" → null,
// anything else → the string itself.
boost::json::value plain_scalar(std::string_view text);

// A YAML document (block style) that to_json() reads back as `value`. A string that a plain
// scalar would read as something else ("8080", "true", "") is double-quoted.
std::string from_json(const boost::json::value& value);

}  // namespace iii::yaml_json
