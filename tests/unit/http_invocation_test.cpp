// An HTTP-invoked function (workers/http_functions/http_invocation.h): the registration's
// `invocation` object, the headers of one call, the HMAC signature and how a response becomes an
// outcome. Secrets come from an EnvLookup lambda, never from the real environment, so the tests
// do not depend on (or leak into) the process environment.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "workers/http_functions/http_invocation.h"

namespace iii {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// A fake environment: only the variables listed exist.
EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const EnvLookup kNoEnv = env_of({});

// The registration must be accepted (a default HttpInvocation after a failure, so that the
// caller's later expectations fail too).
HttpInvocation accepted(std::string_view raw, const EnvLookup& env = kNoEnv, const UrlSecurity& security = {}) {
  auto r = parse_http_invocation(raw, security, env);
  if (auto* e = std::get_if<ErrorBody>(&r)) {
    ADD_FAILURE() << raw << " was refused: " << e->code << ": " << e->message;
    return HttpInvocation{};
  }
  return std::get<HttpInvocation>(std::move(r));
}

// The registration must be refused with `code`; returns the error.
ErrorBody refused(std::string_view raw, std::string_view code, const EnvLookup& env = kNoEnv,
                  const UrlSecurity& security = {}) {
  auto r = parse_http_invocation(raw, security, env);
  if (std::holds_alternative<HttpInvocation>(r)) {
    ADD_FAILURE() << raw << " was accepted";
    return ErrorBody{};
  }
  ErrorBody e = std::get<ErrorBody>(std::move(r));
  EXPECT_EQ(e.code, code) << raw << ": " << e.message;
  return e;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// The signature computed independently of the code under test: OpenSSL's one-shot HMAC() on
// "<seconds>:<base64(body)>", hex-encoded by hand.
std::string expected_signature(const std::string& secret, int64_t seconds, const std::string& body) {
  std::string b64(4 * ((body.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(body.data()), static_cast<int>(body.size()));
  b64.resize(static_cast<size_t>(n));
  const std::string message = std::to_string(seconds) + ":" + b64;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  std::string hex = "sha256=";
  char buf[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

constexpr std::string_view kUrl = R"("url":"https://hooks.example.com/fn?x=1")";

std::string with(std::string_view more) { return "{" + std::string(kUrl) + (more.empty() ? "" : ",") + std::string(more) + "}"; }

// --- parse_http_invocation: shape ---

TEST(HttpInvocation, MinimalHasDefaults) {
  const HttpInvocation inv = accepted(with(""));
  EXPECT_EQ(inv.url_text, "https://hooks.example.com/fn?x=1");
  EXPECT_EQ(inv.url.host, "hooks.example.com");
  EXPECT_EQ(inv.url.port, 443);
  EXPECT_EQ(inv.url.target, "/fn?x=1");
  EXPECT_EQ(inv.method, "POST");
  EXPECT_EQ(inv.timeout, std::chrono::milliseconds(30000));
  EXPECT_TRUE(inv.headers.empty());
  EXPECT_EQ(inv.auth.kind, HttpAuth::Kind::kNone);
}

TEST(HttpInvocation, MissingUrlRefused) {
  const ErrorBody e = refused(R"({"method":"POST"})", "invalid_invocation");
  EXPECT_TRUE(contains(e.message, "url")) << e.message;
  refused(R"({"url":null})", "invalid_invocation");
  refused(R"({"url":42})", "invalid_invocation");
}

TEST(HttpInvocation, NotAnObjectRefused) {
  refused("[]", "invalid_invocation");
  refused("\"https://example.com\"", "invalid_invocation");
  refused("{not json", "invalid_invocation");
}

// The URL goes through check_function_url; its refusals get their own code.
TEST(HttpInvocation, UrlRulesGiveUrlValidationFailed) {
  const ErrorBody http = refused(R"({"url":"http://example.com/"})", "url_validation_failed");
  EXPECT_TRUE(contains(http.message, "https")) << http.message;
  const ErrorBody metadata = refused(R"({"url":"https://169.254.169.254/latest/meta-data"})", "url_validation_failed");
  EXPECT_TRUE(contains(metadata.message, "169.254.169.254")) << metadata.message;
  UrlSecurity only;
  only.url_allowlist = {"*.trusted.com"};
  refused(with(""), "url_validation_failed", kNoEnv, only);
}

// --- method ---

TEST(HttpInvocation, UnsupportedMethodRefused) {
  const ErrorBody e = refused(with(R"("method":"TRACE")"), "invalid_invocation");
  EXPECT_TRUE(contains(e.message, "TRACE")) << e.message;
  refused(with(R"("method":"CONNECT")"), "invalid_invocation");
  refused(with(R"("method":7)"), "invalid_invocation");
}

TEST(HttpInvocation, LowerCaseMethodNormalized) {
  EXPECT_EQ(accepted(with(R"("method":"get")")).method, "GET");
  EXPECT_EQ(accepted(with(R"("method":"Patch")")).method, "PATCH");
  EXPECT_EQ(accepted(with(R"("method":"delete")")).method, "DELETE");
}

// --- timeout ---

TEST(HttpInvocation, TimeoutZeroRefused) { refused(with(R"("timeout_ms":0)"), "invalid_invocation"); }

// One past the ceiling (kMaxHttpFunctionTimeout): a call must not hold a slot for longer.
TEST(HttpInvocation, TimeoutAboveMaximumRefused) {
  const ErrorBody e = refused(with(R"("timeout_ms":300001)"), "invalid_invocation");
  EXPECT_TRUE(contains(e.message, "300000")) << e.message;
}

// A string is not a number, even when it looks like one.
TEST(HttpInvocation, TimeoutAsStringRefused) { refused(with(R"("timeout_ms":"5")"), "invalid_invocation"); }

TEST(HttpInvocation, TimeoutNegativeOrFractionalRefused) {
  refused(with(R"("timeout_ms":-1)"), "invalid_invocation");
  refused(with(R"("timeout_ms":1.5)"), "invalid_invocation");
  refused(with(R"("timeout_ms":18446744073709551615)"), "invalid_invocation");
}

TEST(HttpInvocation, TimeoutBoundsAccepted) {
  EXPECT_EQ(accepted(with(R"("timeout_ms":1)")).timeout, std::chrono::milliseconds(1));
  EXPECT_EQ(accepted(with(R"("timeout_ms":300000)")).timeout, kMaxHttpFunctionTimeout);
}

// --- headers: header injection ---

// A CR/LF in a value would end the header and let the registration write its own headers (or a
// whole second request) onto the wire.
TEST(HttpInvocation, HeaderValueWithCrlfRefused) {
  const ErrorBody e = refused(with(R"("headers":{"X-Note":"ok\r\nX-Injected: 1"})"), "invalid_invocation");
  EXPECT_TRUE(contains(e.message, "X-Note")) << e.message;
  refused(with(R"("headers":{"X-Note":"ok\nX-Injected: 1"})"), "invalid_invocation");
  refused(with(R"("headers":{"X-Note":"ok\rX"})"), "invalid_invocation");
  refused(with(R"("headers":{"X-Note":"a\u0000b"})"), "invalid_invocation");
}

// A header name must be an RFC 9110 token: a space or colon would change how the line parses.
TEST(HttpInvocation, HeaderNameWithSpaceRefused) {
  refused(with(R"("headers":{"X Note":"v"})"), "invalid_invocation");
  refused(with(R"("headers":{"X-Note:":"v"})"), "invalid_invocation");
  refused(with(R"("headers":{"":"v"})"), "invalid_invocation");
}

TEST(HttpInvocation, HeaderValueMustBeString) {
  refused(with(R"("headers":{"X-Count":3})"), "invalid_invocation");
  refused(with(R"("headers":["X-A"])"), "invalid_invocation");
}

TEST(HttpInvocation, ValidHeadersKeptInOrder) {
  const HttpInvocation inv = accepted(with(R"("headers":{"X-B":"2","X-A":"one two"})"));
  EXPECT_EQ(inv.headers, (Headers{{"X-B", "2"}, {"X-A", "one two"}}));
}

// --- auth ---

TEST(HttpInvocation, BearerAuthFromEnv) {
  const HttpInvocation inv =
      accepted(with(R"("auth":{"type":"bearer","token_key":"FN_TOKEN"})"), env_of({{"FN_TOKEN", "tok-123"}}));
  EXPECT_EQ(inv.auth.kind, HttpAuth::Kind::kBearer);
  EXPECT_EQ(inv.auth.secret, "tok-123");
  const Headers h = http_call_headers(inv, "svc::fn", "inv-1", 1700000000, "", "{}");
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(h.back(), (std::pair<std::string, std::string>{"Authorization", "Bearer tok-123"}));
}

TEST(HttpInvocation, ApiKeyAuthUsesConfiguredHeader) {
  const HttpInvocation inv = accepted(with(R"("auth":{"type":"api_key","header":"X-Api-Key","value_key":"FN_KEY"})"),
                                      env_of({{"FN_KEY", "k-456"}}));
  EXPECT_EQ(inv.auth.kind, HttpAuth::Kind::kApiKey);
  EXPECT_EQ(inv.auth.header, "X-Api-Key");
  const Headers h = http_call_headers(inv, "svc::fn", "inv-1", 1700000000, "", "{}");
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(h.back(), (std::pair<std::string, std::string>{"X-Api-Key", "k-456"}));
}

// The api_key header name is checked like a configured header name.
TEST(HttpInvocation, ApiKeyHeaderMustBeAToken) {
  const EnvLookup env = env_of({{"FN_KEY", "k"}});
  refused(with(R"("auth":{"type":"api_key","header":"X Api","value_key":"FN_KEY"})"), "invalid_invocation", env);
  refused(with(R"("auth":{"type":"api_key","value_key":"FN_KEY"})"), "invalid_invocation", env);
}

TEST(HttpInvocation, HmacAuthSignsTheBody) {
  const HttpInvocation inv =
      accepted(with(R"("auth":{"type":"hmac","secret_key":"FN_SECRET"})"), env_of({{"FN_SECRET", "s3cret"}}));
  EXPECT_EQ(inv.auth.kind, HttpAuth::Kind::kHmac);
  const Headers h = http_call_headers(inv, "svc::fn", "inv-1", 1700000000, "", R"({"a":1})");
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(h.back().first, "x-iii-Signature");
  EXPECT_EQ(h.back().second, expected_signature("s3cret", 1700000000, R"({"a":1})"));
}

// A named but unset variable is its own error, naming the variable, so the operator knows what to
// export; the secret's value never appears in any message.
TEST(HttpInvocation, MissingEnvVarNamesTheVariable) {
  struct Case {
    const char* auth;
    const char* var;
  };
  for (const Case& c : {Case{R"({"type":"bearer","token_key":"NO_SUCH_TOKEN"})", "NO_SUCH_TOKEN"},
                        Case{R"({"type":"api_key","header":"X-K","value_key":"NO_SUCH_KEY"})", "NO_SUCH_KEY"},
                        Case{R"({"type":"hmac","secret_key":"NO_SUCH_SECRET"})", "NO_SUCH_SECRET"}}) {
    SCOPED_TRACE(c.auth);
    const ErrorBody e = refused(with(std::string(R"("auth":)") + c.auth), "missing_env_var", env_of({{"OTHER", "x"}}));
    EXPECT_TRUE(contains(e.message, c.var)) << e.message;
  }
}

// The lookup is asked for exactly the variable the registration named.
TEST(HttpInvocation, EnvLookupAskedForTheNamedVariable) {
  std::vector<std::string> asked;
  const EnvLookup spy = [&](const std::string& name) -> std::optional<std::string> {
    asked.push_back(name);
    return "v";
  };
  accepted(with(R"("auth":{"type":"bearer","token_key":"MY_VAR"})"), spy);
  EXPECT_EQ(asked, std::vector<std::string>{"MY_VAR"});
}

TEST(HttpInvocation, BadAuthShapeRefused) {
  const EnvLookup env = env_of({{"V", "x"}});
  refused(with(R"("auth":"bearer")"), "invalid_invocation", env);
  refused(with(R"("auth":{"token_key":"V"})"), "invalid_invocation", env);
  const ErrorBody basic = refused(with(R"("auth":{"type":"basic","token_key":"V"})"), "invalid_invocation", env);
  EXPECT_TRUE(contains(basic.message, "basic")) << basic.message;
  refused(with(R"("auth":{"type":"bearer"})"), "invalid_invocation", env);
  refused(with(R"("auth":{"type":"bearer","token_key":""})"), "invalid_invocation", env);
}

// --- http_call_headers ---

constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(HttpInvocation, CallHeadersInOrderWithAuthLast) {
  const HttpInvocation inv = accepted(with(R"("headers":{"X-Tenant":"t1"},"auth":{"type":"bearer","token_key":"T"})"),
                                      env_of({{"T", "tok"}}));
  const Headers h = http_call_headers(inv, "svc::fn", "inv-42", 1700000000, kTraceparent, "{}");
  const Headers expected{
      {"Content-Type", "application/json"},
      {"x-iii-Function-Path", "svc::fn"},
      {"x-iii-Invocation-ID", "inv-42"},
      {"x-iii-Timestamp", "1700000000"},
      {"x-iii-Trace-ID", "4bf92f3577b34da6a3ce929d0e0e4736"},
      {"X-Tenant", "t1"},
      {"Authorization", "Bearer tok"},
  };
  EXPECT_EQ(h, expected);
}

// A configured header with the auth header's name comes before the auth header, so the client
// (which sets fields in order, last wins) sends the real credential.
TEST(HttpInvocation, ConfiguredHeaderCannotReplaceAuth) {
  const HttpInvocation inv =
      accepted(with(R"("headers":{"Authorization":"Bearer forged"},"auth":{"type":"bearer","token_key":"T"})"),
               env_of({{"T", "real"}}));
  const Headers h = http_call_headers(inv, "svc::fn", "inv-1", 1, "", "");
  ASSERT_GE(h.size(), 2u);
  EXPECT_EQ(h[h.size() - 2], (std::pair<std::string, std::string>{"Authorization", "Bearer forged"}));
  EXPECT_EQ(h.back(), (std::pair<std::string, std::string>{"Authorization", "Bearer real"}));
}

TEST(HttpInvocation, NoTraceIdWithoutTraceparent) {
  const HttpInvocation inv = accepted(with(""));
  for (std::string_view tp : {std::string_view(""), std::string_view("garbage")}) {
    const Headers h = http_call_headers(inv, "svc::fn", "inv-1", 5, tp, "");
    for (const auto& [name, value] : h) EXPECT_NE(name, "x-iii-Trace-ID") << "traceparent `" << tp << "` gave " << value;
    // Without auth or configured headers, exactly the four fixed ones.
    EXPECT_EQ(h.size(), 4u);
  }
}

bool has_line_break(const Headers& h) {
  for (const auto& [name, value] : h)
    if (name.find_first_of("\r\n") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) return true;
  return false;
}

// The traceparent comes from whoever invokes the function (any worker's invokefunction message),
// not from the registration, and Beast 1.81 writes field values as given. A CR/LF in it must not
// reach the wire, or the caller adds headers (or a second request) to the call.
TEST(HttpInvocation, HostileTraceparentCannotInjectHeaders) {
  const HttpInvocation inv = accepted(with(""));
  // 3 + 32 + 20 characters with '-' at [2]: the shape the trace id slice looks for.
  const std::string hostile = "00-\r\nX-Evil: 1\r\nX-Pad: aaaaaaaaa-00f067aa0ba902b7-01";
  ASSERT_EQ(hostile.substr(3, 32).size(), 32u);
  const Headers h = http_call_headers(inv, "svc::fn", "inv-1", 5, hostile, "");
  EXPECT_FALSE(has_line_break(h));
  for (const auto& [name, value] : h) {
    if (name == "x-iii-Trace-ID") {
      EXPECT_EQ(value.find_first_not_of("0123456789abcdef"), std::string::npos) << value;
    }
  }
}

// The function id is chosen by the registering worker and also becomes a header value; it must
// not be a way around the header checks parse_http_invocation applies to `headers`.
TEST(HttpInvocation, FunctionIdCannotInjectHeaders) {
  const HttpInvocation inv = accepted(with(""));
  EXPECT_FALSE(has_line_break(http_call_headers(inv, "svc::fn\r\nX-Evil: 1", "inv-1", 5, "", "")));
}

// --- hmac_signature ---

TEST(HttpInvocation, HmacSignatureKnownVector) {
  // Produced with:
  //   printf '%s' '1700000000:eyJhIjoxfQ==' | openssl dgst -sha256 -hmac s3cret
  // where eyJhIjoxfQ== is base64 of {"a":1} (printf '%s' '{"a":1}' | base64).
  EXPECT_EQ(hmac_signature("s3cret", 1700000000, R"({"a":1})"),
            "sha256=ef70ecc409d280b3ed0a97fdb005b95bcea1b1c20e8984d0a9d92dcd79d1f077");
  // Empty body: the message is "1700000000:" (printf '%s' '1700000000:' | openssl dgst -sha256 -hmac s3cret).
  EXPECT_EQ(hmac_signature("s3cret", 1700000000, ""),
            "sha256=0757d4e4cec682add0fe746eab7f03107480fe616f2b2d94f7ea8a6cd0e946dc");
}

TEST(HttpInvocation, HmacSignatureMatchesIndependentComputation) {
  // Bodies of every length mod 3 (base64 padding) and with bytes that are not ASCII.
  for (const std::string& body : {std::string("x"), std::string("xy"), std::string("xyz"),
                                 std::string("{\"k\":\"\xc3\xa9\"}"), std::string("\0\xff", 2)}) {
    EXPECT_EQ(hmac_signature("k", 42, body), expected_signature("k", 42, body));
  }
}

// The timestamp is signed: a replay with another timestamp does not verify.
TEST(HttpInvocation, HmacSignatureDependsOnTimeSecretAndBody) {
  const std::string base = hmac_signature("s", 100, "{}");
  EXPECT_NE(base, hmac_signature("s", 101, "{}"));
  EXPECT_NE(base, hmac_signature("t", 100, "{}"));
  EXPECT_NE(base, hmac_signature("s", 100, "[]"));
}

// --- map_http_response ---

TEST(HttpInvocation, Response2xxEmptyIsSuccessWithoutResult) {
  for (int status : {200, 202, 204}) {
    const Outcome o = map_http_response(status, "");
    EXPECT_TRUE(o.ok()) << status;
    EXPECT_EQ(o.result, "") << status;
  }
  const Outcome blank = map_http_response(200, " \r\n\t");
  EXPECT_TRUE(blank.ok());
  EXPECT_EQ(blank.result, "");
}

// The body is passed on as it came (not re-serialized), so numbers and key order survive.
TEST(HttpInvocation, Response2xxJsonIsTheRawResult) {
  const Outcome o = map_http_response(200, R"({"b":1.50,"a":[1,2]})");
  EXPECT_TRUE(o.ok());
  EXPECT_EQ(o.result, R"({"b":1.50,"a":[1,2]})");
  EXPECT_EQ(map_http_response(201, "42").result, "42");
  EXPECT_EQ(map_http_response(200, "null").result, "null");
}

TEST(HttpInvocation, Response2xxNotJsonIsInvalidResponse) {
  const Outcome o = map_http_response(200, "<html>ok</html>");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error->code, "invalid_response");
  EXPECT_TRUE(contains(o.error->message, "200")) << o.error->message;
  EXPECT_EQ(o.result, "");
}

TEST(HttpInvocation, Response1xxAnd3xxAreSuccess) {
  const Outcome json = map_http_response(302, R"({"moved":true})");
  EXPECT_TRUE(json.ok());
  EXPECT_EQ(json.result, R"({"moved":true})");
  const Outcome html = map_http_response(301, "<a href=/x>moved</a>");
  EXPECT_TRUE(html.ok());
  EXPECT_EQ(html.result, "");
  EXPECT_TRUE(map_http_response(100, "").ok());
  EXPECT_TRUE(map_http_response(399, "nope").ok());
}

TEST(HttpInvocation, Response4xxWithErrorObjectUsesIt) {
  const Outcome o = map_http_response(404, R"({"error":{"code":"user_not_found","message":"no user 7"}})");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error->code, "user_not_found");
  EXPECT_EQ(o.error->message, "no user 7");
}

TEST(HttpInvocation, ResponseErrorCodeWithoutMessageGetsStatus) {
  const Outcome o = map_http_response(503, R"({"error":{"code":"busy"}})");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error->code, "busy");
  EXPECT_EQ(o.error->message, "HTTP 503");
}

TEST(HttpInvocation, Response4xx5xxOtherwiseIsHttpError) {
  for (const auto& [status, body] : std::vector<std::pair<int, std::string>>{
           {400, ""}, {500, "Internal Server Error"}, {502, R"({"error":"bad gateway"})"},
           {403, R"({"error":{"code":7,"message":"x"}})"}, {418, R"({"message":"teapot"})"}, {500, "[1]"}}) {
    SCOPED_TRACE(body);
    const Outcome o = map_http_response(status, body);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.error->code, "http_error");
    EXPECT_EQ(o.error->message, "HTTP " + std::to_string(status));
    EXPECT_EQ(o.result, "");
  }
}

}  // namespace
}  // namespace iii
