// One HTTP-invoked function (docs/builtins.md, iii-http-functions): the `invocation` object of
// its registration, checked; the request a call becomes; and the outcome a response becomes.
// Pure functions, so each rule has a unit test.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error_body.h"
#include "workers/http_functions/url_security.h"

namespace iii {

struct HttpAuth {
  enum class Kind { kNone, kBearer, kApiKey, kHmac };
  Kind kind = Kind::kNone;
  std::string header;  // api_key: the header to set
  std::string secret;  // the value of the environment variable the registration named
};

struct HttpInvocation {
  std::string url_text;
  FunctionUrl url;
  std::string method = "POST";
  std::chrono::milliseconds timeout{30000};
  std::vector<std::pair<std::string, std::string>> headers;
  HttpAuth auth;
};

// Looks up an environment variable of the engine (std::getenv in production).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

inline constexpr std::chrono::milliseconds kMaxHttpFunctionTimeout{300000};

// Parses and checks an `invocation` object (raw JSON). Errors: invalid_invocation (a missing or
// wrongly typed field, a bad method, header or timeout), url_validation_failed (the URL under
// `security`, before any lookup), missing_env_var (an auth secret names an unset variable).
std::variant<HttpInvocation, ErrorBody> parse_http_invocation(std::string_view raw, const UrlSecurity& security,
                                                              const EnvLookup& env);

// What one call sends besides the body: Content-Type, x-iii-Function-Path, x-iii-Invocation-ID,
// x-iii-Timestamp, x-iii-Trace-ID (from a W3C traceparent), the configured headers, then the
// auth header (so a configured header cannot replace it).
std::vector<std::pair<std::string, std::string>> http_call_headers(const HttpInvocation& inv, std::string_view function_id,
                                                                   std::string_view invocation_id, int64_t unix_seconds,
                                                                   std::string_view traceparent, std::string_view body);

// "sha256=<hex HMAC-SHA256 of "<unix seconds>:<base64(body)>">", the x-iii-Signature value.
std::string hmac_signature(std::string_view secret, int64_t unix_seconds, std::string_view body);

// The outcome of a response: 2xx empty ⇒ no result; 2xx JSON ⇒ the result; 2xx other ⇒
// invalid_response; 1xx/3xx ⇒ success (the JSON body if it parses, else none); ≥ 400 ⇒ the
// body's {"error":{"code","message"}} when present, else http_error "HTTP <status>".
Outcome map_http_response(int status, std::string_view body);

}  // namespace iii
