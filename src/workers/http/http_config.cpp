#include "workers/http/http_config.h"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <limits>

#include "workers/builtin.h"

namespace iii {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-http";

[[noreturn]] void fail(std::string_view key, std::string_view what) {
  throw BuiltinConfigError(std::string(kWorker) + ": `" + std::string(key) + "` " + std::string(what));
}

uint64_t unsigned_of(const json::value& v, std::string_view key, uint64_t max) {
  uint64_t n = 0;
  if (v.is_uint64()) {
    n = v.get_uint64();
  } else if (v.is_int64() && v.get_int64() >= 0) {
    n = static_cast<uint64_t>(v.get_int64());
  } else if (v.is_string()) {
    std::string_view s = v.get_string();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) fail(key, "must be a non-negative integer");
  } else {
    fail(key, "must be a non-negative integer");
  }
  if (n > max) fail(key, "is too large (at most " + std::to_string(max) + ")");
  return n;
}

int64_t signed_of(const json::value& v, std::string_view key) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= uint64_t(std::numeric_limits<int64_t>::max())) return int64_t(v.get_uint64());
  if (v.is_string()) {
    std::string_view s = v.get_string();
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return n;
  }
  fail(key, "must be an integer");
}

std::string string_of(const json::value& v, std::string_view key) {
  if (!v.is_string()) fail(key, "must be a string");
  return std::string(v.get_string());
}

std::vector<std::string> strings_of(const json::value& v, std::string_view key) {
  if (v.is_null()) return {};
  if (!v.is_array()) fail(key, "must be a list of strings");
  std::vector<std::string> out;
  for (const json::value& item : v.get_array()) {
    if (!item.is_string()) fail(key, "must be a list of strings");
    out.emplace_back(item.get_string());
  }
  return out;
}

HttpCorsConfig cors_of(const json::value& v) {
  if (!v.is_object()) fail("cors", "must be a mapping");
  require_known_keys(v, "iii-http: cors", {"allowed_origins", "allowed_methods"});
  HttpCorsConfig cors;
  const json::object& o = v.get_object();
  if (auto* x = o.if_contains("allowed_origins")) cors.allowed_origins = strings_of(*x, "cors.allowed_origins");
  if (auto* x = o.if_contains("allowed_methods")) cors.allowed_methods = strings_of(*x, "cors.allowed_methods");
  return cors;
}

std::vector<HttpMiddlewareConfig> middleware_of(const json::value& v) {
  if (v.is_null()) return {};
  if (!v.is_array()) fail("middleware", "must be a list");
  std::vector<HttpMiddlewareConfig> out;
  for (const json::value& item : v.get_array()) {
    if (!item.is_object()) fail("middleware", "entries must be mappings with a `function_id`");
    require_known_keys(item, "iii-http: middleware entry", {"function_id", "phase", "priority"});
    const json::object& o = item.get_object();
    HttpMiddlewareConfig m;
    const json::value* id = o.if_contains("function_id");
    if (!id) fail("middleware.function_id", "is required");
    m.function_id = string_of(*id, "middleware.function_id");
    if (auto* x = o.if_contains("phase"); x && !x->is_null()) m.phase = string_of(*x, "middleware.phase");
    if (auto* x = o.if_contains("priority"); x && !x->is_null()) m.priority = signed_of(*x, "middleware.priority");
    out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.priority < b.priority; });
  return out;
}

}  // namespace

HttpConfig parse_http_config(const json::value& block) {
  require_known_keys(block, kWorker,
                     {"port", "host", "default_timeout", "concurrency_request_limit", "cors", "middleware",
                      "body_limit_bytes"});
  HttpConfig config;
  if (block.is_null()) return config;
  const json::object& o = block.get_object();
  auto field = [&](std::string_view key) -> const json::value* {
    const json::value* v = o.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  };
  if (auto* v = field("port")) config.port = static_cast<uint16_t>(unsigned_of(*v, "port", 65535));
  if (auto* v = field("host")) config.host = string_of(*v, "host");
  if (auto* v = field("default_timeout"))
    config.default_timeout = std::chrono::milliseconds(unsigned_of(*v, "default_timeout", 24ull * 3600 * 1000 * 365));
  if (auto* v = field("concurrency_request_limit"))
    config.concurrency_request_limit = std::max<size_t>(1, unsigned_of(*v, "concurrency_request_limit", 1u << 30));
  if (auto* v = field("cors")) config.cors = cors_of(*v);
  if (auto* v = field("middleware")) config.middleware = middleware_of(*v);
  if (auto* v = field("body_limit_bytes")) {
    config.body_limit_bytes = unsigned_of(*v, "body_limit_bytes", uint64_t(1) << 40);
    if (config.body_limit_bytes == 0) fail("body_limit_bytes", "must be at least 1");
  }
  return config;
}

}  // namespace iii
