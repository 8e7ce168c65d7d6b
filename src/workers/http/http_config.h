// The `config:` block of the iii-http built-in (docs/builtins.md §1.1), validated strictly: unknown keys
// and wrongly typed values throw BuiltinConfigError naming the key.
#pragma once
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iii {

struct HttpCorsConfig {
  std::vector<std::string> allowed_origins;  // empty or containing "*" ⇒ any origin
  std::vector<std::string> allowed_methods;  // empty ⇒ any method
};

struct HttpMiddlewareConfig {
  std::string function_id;
  std::string phase = "preHandler";  // only preHandler runs
  int64_t priority = 0;              // ascending
};

struct HttpConfig {
  uint16_t port = 3111;
  std::string host = "0.0.0.0";
  // Whole-request deadline (until the response starts) and per-middleware deadline.
  std::chrono::milliseconds default_timeout{30000};
  size_t concurrency_request_limit = 1024;  // ≥ 1; excess requests wait
  std::optional<HttpCorsConfig> cors;       // absent ⇒ fully permissive
  std::vector<HttpMiddlewareConfig> middleware;  // sorted by priority, preHandler only
  size_t body_limit_bytes = 16u << 20;           // larger bodies get 413
};

// REQUIRES: `block` is null (defaults) or an object. Integers may also be given as decimal
// strings (what `${VAR:default}` expansion yields).
HttpConfig parse_http_config(const boost::json::value& block);

}  // namespace iii
