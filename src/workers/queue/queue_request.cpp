#include "workers/queue/queue_request.h"

#include <simdjson.h>

#include <boost/json.hpp>

#include "core/json_text.h"
#include "core/message.h"

namespace iii {
namespace {

using simdjson::ondemand::json_type;

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

[[noreturn]] void invalid(const std::string& why) { throw RequestError(why); }

std::string raw_of(simdjson::ondemand::value v) {
  json_type type;
  std::string_view raw;
  simdjson::error_code err = v.type().get(type);
  if (!err && type == json_type::object) {
    simdjson::ondemand::object o;
    err = v.get_object().get(o);
    if (!err) err = o.raw_json().get(raw);
  } else if (!err && type == json_type::array) {
    simdjson::ondemand::array a;
    err = v.get_array().get(a);
    if (!err) err = a.raw_json().get(raw);
  } else if (!err) {
    raw = trim_right(v.raw_json_token());
  }
  if (err) invalid("invalid JSON");
  return std::string(raw);
}

}  // namespace

QueueRequest::QueueRequest(std::string_view json) {
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
  if (!is_valid_json(json)) invalid("invalid JSON");
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  json_type type;
  if (parser.iterate(padded).get(doc) || doc.type().get(type)) invalid("invalid JSON");
  if (type == json_type::null) return;
  if (type != json_type::object) invalid("invalid type: expected a JSON object");
  simdjson::ondemand::object object;
  if (doc.get_object().get(object)) invalid("invalid JSON");
  for (auto f : object) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) invalid("invalid JSON");
    std::string k(key);
    std::string raw = raw_of(field.value());
    if (raw == "null") fields_.erase(k);
    else fields_.insert_or_assign(std::move(k), std::move(raw));
  }
}

std::optional<std::string_view> QueueRequest::raw(std::string_view key) const {
  auto it = fields_.find(key);
  if (it == fields_.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<std::string> QueueRequest::string(std::string_view key) const {
  std::optional<std::string_view> raw = this->raw(key);
  if (!raw) return std::nullopt;
  const std::optional<boost::json::value> parsed = json_text::parse(*raw);
  const boost::json::value v = parsed.value_or(nullptr);
  if (!v.is_string()) invalid("field `" + std::string(key) + "`: invalid type, expected a string");
  return std::string(v.get_string());
}

std::optional<uint64_t> QueueRequest::integer(std::string_view key) const {
  std::optional<std::string_view> raw = this->raw(key);
  if (!raw) return std::nullopt;
  const boost::json::value v = json_text::parse(*raw).value_or(nullptr);
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  if (v.is_uint64()) return v.get_uint64();
  invalid("field `" + std::string(key) + "`: invalid type, expected a non-negative integer");
}

}  // namespace iii
