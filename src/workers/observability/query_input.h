// The optional fields of a query function's input object (engine::traces::list, engine::logs::list,
// …), read strictly: absent or null gives the fallback, a wrong type throws std::invalid_argument
// naming the field (the function answers deserialization_error with it).
#pragma once
#include <boost/json/object.hpp>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace iii::obs {

class QueryInput {
 public:
  explicit QueryInput(const boost::json::object& o) : o_(o) {}

  std::string string(const char* key) const {
    const boost::json::value* v = find(key);
    if (!v) return {};
    if (!v->is_string()) throw std::invalid_argument(std::string("`") + key + "` must be a string");
    return std::string(v->get_string());
  }
  double number(const char* key, double fallback) const {
    const boost::json::value* v = find(key);
    if (!v) return fallback;
    if (v->is_double()) return v->get_double();
    if (v->is_int64()) return static_cast<double>(v->get_int64());
    if (v->is_uint64()) return static_cast<double>(v->get_uint64());
    throw std::invalid_argument(std::string("`") + key + "` must be a number");
  }
  // A count or a time: a number, negative ones read as 0.
  uint64_t count(const char* key, uint64_t fallback = 0) const {
    return static_cast<uint64_t>(std::max(0.0, number(key, static_cast<double>(fallback))));
  }
  bool flag(const char* key) const {
    const boost::json::value* v = find(key);
    if (!v) return false;
    if (!v->is_bool()) throw std::invalid_argument(std::string("`") + key + "` must be true or false");
    return v->get_bool();
  }
  const boost::json::value* find(const char* key) const {
    const boost::json::value* v = o_.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  }

 private:
  const boost::json::object& o_;
};

}  // namespace iii::obs
