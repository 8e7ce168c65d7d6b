#include "workers/http/http_cors.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "workers/http/http_response_mapping.h"

namespace iii {

CorsPolicy::CorsPolicy(const std::optional<HttpCorsConfig>& config) {
  if (config) configure(*config);
  if (any_origin_) {
    append_common(any_origin_headers_, {});
    if (permissive_) any_origin_headers_ += "access-control-expose-headers: *\r\n";
  }
}

void CorsPolicy::configure(const HttpCorsConfig& cors) {
  const HttpCorsConfig* config = &cors;
  permissive_ = false;
  const auto& origins = config->allowed_origins;
  const bool wildcard = std::find(origins.begin(), origins.end(), "*") != origins.end();
  if (wildcard && origins.size() > 1)
    spdlog::warn("iii-http: cors.allowed_origins contains \"*\" alongside explicit origins; all origins are allowed");
  any_origin_ = origins.empty() || wildcard;
  if (!any_origin_) {
    for (const std::string& o : origins)
      if (valid_header_value(o)) origins_.push_back(o);
  }
  if (!config->allowed_methods.empty()) {
    methods_.clear();
    for (const std::string& m : config->allowed_methods) {
      if (!valid_header_name(m)) continue;  // not a method token
      if (!methods_.empty()) methods_ += ',';
      methods_ += m;
    }
  }
}

void CorsPolicy::append_common(std::string& out, std::string_view origin) const {
  if (any_origin_) {
    out += "access-control-allow-origin: *\r\n";
  } else if (!origin.empty() && std::find(origins_.begin(), origins_.end(), origin) != origins_.end()) {
    out += "access-control-allow-origin: ";
    out += origin;
    out += "\r\n";
  }
  out += "vary: origin, access-control-request-method, access-control-request-headers\r\n";
}

std::string_view CorsPolicy::response_headers(std::string_view origin, std::string& scratch) const {
  if (any_origin_) return any_origin_headers_;
  scratch.clear();
  append_common(scratch, origin);
  return scratch;
}

std::string CorsPolicy::preflight_headers(std::string_view origin) const {
  std::string out;
  out.reserve(200);
  append_common(out, origin);
  out += "access-control-allow-methods: ";
  out += methods_;
  out += "\r\naccess-control-allow-headers: *\r\n";
  return out;
}

}  // namespace iii
