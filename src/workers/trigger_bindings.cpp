#include "workers/trigger_bindings.h"

#include <boost/json.hpp>

#include "core/json_text.h"

namespace iii {

namespace json = boost::json;

ErrorBody TriggerConfigReader::reject(const std::string& why) const {
  return ErrorBody{codes::kTriggerRegistrationFailed, prefix_ + ": " + why, std::nullopt};
}

std::optional<ErrorBody> TriggerConfigReader::parse(std::string_view config, json::object& out) const {
  std::string error;
  std::optional<json::value> v = json_text::parse(config.empty() ? "null" : config, &error);
  if (!v) return reject("not valid JSON: " + error);
  if (v->is_null()) return std::nullopt;
  if (!v->is_object()) return reject(std::string("expected an object, got ") + json_text::type_name(*v));
  out = std::move(v->get_object());
  return std::nullopt;
}

std::optional<ErrorBody> TriggerConfigReader::optional_string(const json::object& config, std::string_view name,
                                                              std::optional<std::string>& out) const {
  const json::value* v = config.if_contains(name);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) return reject("`" + std::string(name) + "` must be a string, got " + json_text::type_name(*v));
  out = std::string(v->get_string());
  return std::nullopt;
}

std::optional<ErrorBody> TriggerConfigReader::condition(const json::object& config, std::string& out) const {
  std::optional<std::string> id;
  if (auto e = optional_string(config, "condition_function_id", id)) return e;
  out = id.value_or("");
  return std::nullopt;
}

}  // namespace iii
