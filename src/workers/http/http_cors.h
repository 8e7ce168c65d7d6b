// CORS for the iii-http server (docs/builtins.md §1.6), with the reference's (tower-http CorsLayer)
// header set. No `cors` block ⇒ fully permissive: every response carries
// `access-control-allow-origin: *` and `access-control-expose-headers: *`. With a block: empty
// `allowed_origins` or one containing "*" ⇒ any origin, else the request's Origin is echoed only
// when listed; empty `allowed_methods` ⇒ any method. Request headers: any. Every response carries
// `vary`. OPTIONS requests are preflights, answered 200 with an empty body.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/http/http_config.h"

namespace iii {

class CorsPolicy {
 public:
  explicit CorsPolicy(const std::optional<HttpCorsConfig>& config);

  // "name: value\r\n" lines for a response to a request with this Origin ("" when absent). The
  // view points into the policy (any origin) or into `scratch`.
  std::string_view response_headers(std::string_view origin, std::string& scratch) const;
  // The lines for a preflight answer (adds allow-methods and allow-headers).
  std::string preflight_headers(std::string_view origin) const;

 private:
  void configure(const HttpCorsConfig& cors);
  void append_common(std::string& out, std::string_view origin) const;

  bool permissive_ = true;
  bool any_origin_ = true;
  std::vector<std::string> origins_;
  std::string methods_ = "*";
  std::string any_origin_headers_;  // response_headers() when any origin is allowed
};

}  // namespace iii
