// The `iii-http-functions` built-in (docs/builtins.md, "HTTP-invoked functions"): a worker may
// register a function whose implementation is an HTTP endpoint (a registerfunction with an
// `invocation` object); the engine then calls that endpoint for every call. Opt-in: without this
// block such registrations are dropped. See this folder's README.md.
#pragma once
#include <memory>

#include "wire/asio_fwd.h"
#include "workers/builtin.h"
#include "workers/http_functions/url_security.h"

namespace iii {

inline constexpr const char* kHttpFunctionsWorkerName = "iii-http-functions";

struct HttpFunctionsConfig {
  UrlSecurity security;
  size_t max_idle_connections_per_host = 32;
  size_t max_connections_per_host = 256;
  size_t max_response_bytes = 16u << 20;

  bool operator==(const HttpFunctionsConfig&) const = default;
};

// Throws BuiltinConfigError naming the offending key.
HttpFunctionsConfig parse_http_functions_config(const boost::json::value& config);

// name "iii-http-functions" (no alias).
BuiltinDescriptor http_functions_builtin(boost::asio::io_context& io);

}  // namespace iii
