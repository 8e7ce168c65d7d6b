#include "workers/http_functions/http_invocation.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>

#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

ErrorBody invalid(std::string message) { return ErrorBody{"invalid_invocation", std::move(message), std::nullopt}; }

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_header(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name)
    if (!is_token_char(c)) return false;
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The trace id of a W3C traceparent "vv-<32 hex trace id>-<16 hex parent id>-ff", or nullopt
// when the caller sent something else (it is a caller's value: never copied unchecked).
std::optional<std::string> trace_id_of(std::string_view tp) {
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return std::nullopt;
  if (!lower_hex(tp.substr(0, 2)) || !lower_hex(tp.substr(3, 32)) || !lower_hex(tp.substr(36, 16)) ||
      !lower_hex(tp.substr(53, 2)))
    return std::nullopt;
  return std::string(tp.substr(3, 32));
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

const json::value* field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

std::optional<ErrorBody> read_auth(const json::value& v, const EnvLookup& env, HttpAuth& out) {
  if (!v.is_object()) return invalid("`auth` must be an object, got " + json_text::describe(v));
  const json::object& o = v.get_object();
  const json::value* type = field(o, "type");
  if (!type || !type->is_string()) return invalid("`auth.type` must be bearer, api_key or hmac");
  const std::string t(type->get_string());
  auto secret_from = [&](std::string_view key) -> std::optional<ErrorBody> {
    const json::value* name = field(o, key);
    if (!name || !name->is_string() || name->get_string().empty())
      return invalid("`auth." + std::string(key) + "` must name an environment variable of the engine");
    const std::string var(name->get_string());
    std::optional<std::string> value = env(var);
    if (!value) return ErrorBody{"missing_env_var", "environment variable `" + var + "` (auth." + std::string(key) +
                                                        ") is not set in the engine", std::nullopt};
    if (value->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      return invalid("environment variable `" + var + "` holds a line break or NUL, which cannot go in a header");
    out.secret = std::move(*value);
    return std::nullopt;
  };
  if (t == "bearer") {
    out.kind = HttpAuth::Kind::kBearer;
    return secret_from("token_key");
  }
  if (t == "api_key") {
    out.kind = HttpAuth::Kind::kApiKey;
    const json::value* header = field(o, "header");
    if (!header || !header->is_string() || !valid_header(std::string_view(header->get_string()), ""))
      return invalid("`auth.header` must be a header name");
    out.header = std::string(header->get_string());
    return secret_from("value_key");
  }
  if (t == "hmac") {
    out.kind = HttpAuth::Kind::kHmac;
    return secret_from("secret_key");
  }
  return invalid("`auth.type` `" + t + "` is not bearer, api_key or hmac");
}

}  // namespace

std::variant<HttpInvocation, ErrorBody> parse_http_invocation(std::string_view raw, const UrlSecurity& security,
                                                              const EnvLookup& env) {
  std::optional<json::value> parsed = json_text::parse(raw);
  if (!parsed || !parsed->is_object()) return invalid("`invocation` must be an object");
  const json::object& o = parsed->get_object();
  HttpInvocation inv;
  const json::value* url = field(o, "url");
  if (!url || !url->is_string()) return invalid("`invocation.url` must be a string");
  inv.url_text = std::string(url->get_string());
  auto checked = check_function_url(security, inv.url_text);
  if (auto* why = std::get_if<std::string>(&checked)) return ErrorBody{"url_validation_failed", *why, std::nullopt};
  inv.url = std::get<FunctionUrl>(std::move(checked));
  if (const json::value* m = field(o, "method")) {
    if (!m->is_string()) return invalid("`invocation.method` must be a string");
    std::string method(m->get_string());
    for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" && method != "DELETE")
      return invalid("`invocation.method` `" + method + "` is not GET, POST, PUT, PATCH or DELETE");
    inv.method = std::move(method);
  }
  if (const json::value* t = field(o, "timeout_ms")) {
    const auto* n = t->if_int64();
    const auto* u = t->if_uint64();
    const int64_t ms = n ? *n : u && *u <= uint64_t(INT64_MAX) ? static_cast<int64_t>(*u) : -1;
    if (ms < 1 || ms > kMaxHttpFunctionTimeout.count())
      return invalid("`invocation.timeout_ms` must be a whole number of milliseconds from 1 to " +
                     std::to_string(kMaxHttpFunctionTimeout.count()));
    inv.timeout = std::chrono::milliseconds(ms);
  }
  if (const json::value* h = field(o, "headers")) {
    if (!h->is_object()) return invalid("`invocation.headers` must be an object of strings");
    for (const auto& [name, value] : h->get_object()) {
      if (!value.is_string() || !valid_header(name, std::string_view(value.get_string())))
        return invalid("`invocation.headers." + std::string(name) + "` is not a valid header (a token name, a string value without line breaks)");
      inv.headers.emplace_back(std::string(name), std::string(value.get_string()));
    }
  }
  if (const json::value* a = field(o, "auth")) {
    if (auto error = read_auth(*a, env, inv.auth)) return *error;
  }
  return inv;
}

std::string hmac_signature(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  const std::string message = std::to_string(unix_seconds) + ":" + base64(body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> http_call_headers(const HttpInvocation& inv, std::string_view function_id,
                                                                   std::string_view invocation_id, int64_t unix_seconds,
                                                                   std::string_view traceparent, std::string_view body) {
  std::vector<std::pair<std::string, std::string>> h;
  h.emplace_back("Content-Type", "application/json");
  // Ids come from workers: one with a line break would add headers of its own, so it is not sent.
  if (valid_header("x", function_id)) h.emplace_back("x-iii-Function-Path", std::string(function_id));
  if (valid_header("x", invocation_id)) h.emplace_back("x-iii-Invocation-ID", std::string(invocation_id));
  h.emplace_back("x-iii-Timestamp", std::to_string(unix_seconds));
  if (auto trace_id = trace_id_of(traceparent)) h.emplace_back("x-iii-Trace-ID", std::move(*trace_id));
  for (const auto& header : inv.headers) h.push_back(header);
  switch (inv.auth.kind) {
    case HttpAuth::Kind::kNone: break;
    case HttpAuth::Kind::kBearer: h.emplace_back("Authorization", "Bearer " + inv.auth.secret); break;
    case HttpAuth::Kind::kApiKey: h.emplace_back(inv.auth.header, inv.auth.secret); break;
    case HttpAuth::Kind::kHmac: h.emplace_back("x-iii-Signature", hmac_signature(inv.auth.secret, unix_seconds, body)); break;
  }
  return h;
}

Outcome map_http_response(int status, std::string_view body) {
  auto blank = [&] {
    for (char c : body)
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return false;
    return true;
  };
  std::optional<json::value> parsed = blank() ? std::nullopt : json_text::parse(body);
  if (status >= 200 && status < 300) {
    if (blank()) return Outcome::success("");
    if (!parsed) return Outcome::failure("invalid_response", "the endpoint answered HTTP " + std::to_string(status) + " with a body that is not JSON");
    return Outcome::success(std::string(body));  // valid JSON: passed on as it came
  }
  if (status < 400) return Outcome::success(parsed ? std::string(body) : std::string());
  if (parsed && parsed->is_object()) {
    if (const json::value* e = parsed->get_object().if_contains("error"); e && e->is_object()) {
      const json::value* code = e->get_object().if_contains("code");
      const json::value* message = e->get_object().if_contains("message");
      if (code && code->is_string())
        return Outcome::failure(std::string(code->get_string()),
                                message && message->is_string() ? std::string(message->get_string()) : "HTTP " + std::to_string(status));
    }
  }
  return Outcome::failure("http_error", "HTTP " + std::to_string(status));
}

}  // namespace iii
