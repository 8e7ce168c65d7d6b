// Boost.JSON values to and from text for the built-ins that keep JSON values (state, streams).
// Not for the routing hot path, which never parses payloads.
#pragma once
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "wire/json_limits.h"

namespace iii::json_text {

// Parses one JSON text, nested at most json_depth_limit() (wire/json_limits.h) deep like every
// other parser of the engine. nullopt (with `error` set when given) if it is not valid JSON.
std::optional<boost::json::value> parse(std::string_view text, std::string* error = nullptr);

// Compact JSON text. Doubles are written in their shortest round-trip form and keep a fraction
// or exponent ("3.0", not "3"), so a float stays a float when read back. Non-finite doubles
// (which JSON cannot express) are written as null.
std::string serialize(const boost::json::value& v);
void append(std::string& out, const boost::json::value& v);

// "null", "boolean", "number", "string", "array" or "object".
const char* type_name(const boost::json::value& v);

// An unexpected value in the words of serde (the official engine's JSON library), so that error
// messages read alike: "null", "boolean `true`", "integer `5`", "floating point `1.5`",
// "string \"x\"", "sequence", "map". Used as "invalid type: <describe>, expected …".
std::string describe(const boost::json::value& v);

}  // namespace iii::json_text
