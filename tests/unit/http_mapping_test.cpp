// Request → payload and result → response mappings of the http trigger (docs/protocol.md §7,
// docs/builtins.md §1.4–§1.5), and the wire form of responses.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "workers/http/http_request_mapping.h"
#include "workers/http/http_response_mapping.h"

namespace iii {
namespace {

namespace json = boost::json;

struct Request {
  std::string method = "GET";
  std::string target = "/";
  std::vector<HttpHeaderView> headers;
  std::string body;
  HttpRequestView view() const { return HttpRequestView{method, target, &headers, body}; }
};

std::shared_ptr<HttpRoute> route(std::string api_path, std::vector<std::string> params = {}) {
  auto r = std::make_shared<HttpRoute>();
  r->api_path = std::move(api_path);
  r->method = "GET";
  r->param_names = std::move(params);
  return r;
}

json::object parse(std::string_view text) { return json::parse(text).as_object(); }

TEST(HttpRequestMapping, QueryIsFormDecodedAndTheLastValueWins) {
  EXPECT_EQ(form_decode("a+b%20c%2Fd"), "a b c/d");
  EXPECT_EQ(form_decode("100%"), "100%");
  EXPECT_EQ(form_decode("%zz%4"), "%zz%4");
  Request r;
  r.target = "/x?a=1&b=two+words&a=3&flag&=empty&c=%E2%9C%93&&bad=%FF";
  RouteMatch m{route("/x"), {}};
  json::object q = parse(build_request_fragments(r.view(), m).query_params);
  EXPECT_EQ(q.at("a").as_string(), "3");
  EXPECT_EQ(q.at("b").as_string(), "two words");
  EXPECT_EQ(q.at("flag").as_string(), "");
  EXPECT_EQ(q.at("").as_string(), "empty");
  EXPECT_EQ(q.at("c").as_string(), "\xE2\x9C\x93");
  EXPECT_EQ(q.at("bad").as_string(), "\xEF\xBF\xBD");  // invalid UTF-8 becomes U+FFFD
  EXPECT_EQ(q.size(), 6u);
}

TEST(HttpRequestMapping, HeadersAreLowerCasedSingleValued) {
  Request r;
  r.headers = {{"Content-Type", "application/json"}, {"X-Dup", "one"}, {"x-dup", "two"}, {"Host", "localhost:3111"},
               {"X-Bin", "caf\xC3\xA9"}};
  RouteMatch m{route("/"), {}};
  json::object h = parse(build_request_fragments(r.view(), m).headers);
  EXPECT_EQ(h.at("content-type").as_string(), "application/json");
  EXPECT_EQ(h.at("x-dup").as_string(), "two");
  EXPECT_EQ(h.at("host").as_string(), "localhost:3111");
  EXPECT_EQ(h.at("x-bin").as_string(), "");  // not visible ASCII: reads as empty, as in the reference
  EXPECT_EQ(h.size(), 4u);
}

TEST(HttpRequestMapping, ManyHeadersStillDeduplicate) {
  Request r;
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("X-H" + std::to_string(i % 20));
  for (const auto& n : names) r.headers.push_back({n, "v"});
  RouteMatch m{route("/"), {}};
  EXPECT_EQ(parse(build_request_fragments(r.view(), m).headers).size(), 20u);
}

TEST(HttpRequestMapping, BodyIsJsonOnlyForJsonContentTypes) {
  Request r;
  r.body = R"({"a":100,"b":[1,2]})";
  EXPECT_EQ(body_json(r.view()), "null");  // no content type
  r.headers = {{"content-type", "application/json; charset=utf-8"}};
  EXPECT_EQ(body_json(r.view()), r.body);
  r.headers = {{"Content-Type", "Application/JSON"}};
  EXPECT_EQ(body_json(r.view()), r.body);
  r.headers = {{"content-type", "text/plain"}};
  EXPECT_EQ(body_json(r.view()), "null");
  r.headers = {{"content-type", "application/json"}};
  r.body = "{not json";
  EXPECT_EQ(body_json(r.view()), "null");
  r.body = "";
  EXPECT_EQ(body_json(r.view()), "null");
  r.body = " 42 ";
  EXPECT_EQ(body_json(r.view()), " 42 ");
}

TEST(HttpRequestMapping, HandlerPayloadHasEveryField) {
  Request r;
  r.method = "POST";
  r.target = "/math/7/add?x=1";
  r.headers = {{"Content-Type", "application/json"}, {"Host", "localhost:3111"}};
  r.body = R"({"a":100,"b":200})";
  auto rt = route("/math/:n/add", {"n"});
  RouteMatch m{rt, {{"n", "7"}}};
  RequestFragments f = build_request_fragments(r.view(), m);
  std::string prefix = build_payload_prefix(r.view(), *rt, f, body_json(r.view()));
  const std::string reader = R"({"channel_id":"c1","access_key":"k1","direction":"read"})";
  const std::string writer = R"({"channel_id":"c2","access_key":"k2","direction":"write"})";
  json::object p = parse(finish_handler_payload(prefix, reader, writer));
  EXPECT_EQ(p.at("query_params"), json::parse(R"({"x":"1"})"));
  EXPECT_EQ(p.at("path_params"), json::parse(R"({"n":"7"})"));
  EXPECT_EQ(p.at("headers"), json::parse(R"({"content-type":"application/json","host":"localhost:3111"})"));
  EXPECT_EQ(p.at("path").as_string(), "/math/:n/add");  // the registered pattern
  EXPECT_EQ(p.at("method").as_string(), "POST");
  EXPECT_EQ(p.at("body"), json::parse(R"({"a":100,"b":200})"));
  EXPECT_EQ(p.at("trigger"), json::parse(R"({"type":"http","path":"/math/:n/add","method":"POST"})"));
  EXPECT_EQ(p.at("request_body"), json::parse(reader));
  EXPECT_EQ(p.at("response"), json::parse(writer));
  EXPECT_EQ(p.size(), 9u);

  json::object c = parse(finish_condition_payload(prefix));
  EXPECT_FALSE(c.contains("request_body"));
  EXPECT_FALSE(c.contains("response"));
  EXPECT_EQ(c.size(), 7u);
  EXPECT_EQ(c.at("body"), p.at("body"));
}

TEST(HttpRequestMapping, MiddlewareInputHasNoBody) {
  Request r;
  r.method = "DELETE";
  r.target = "/a/1?q=z";
  r.headers = {{"Authorization", "Bearer t"}};
  auto rt = route("/a/:id", {"id"});
  RouteMatch m{rt, {{"id", "1"}}};
  json::value v = json::parse(build_middleware_input(r.view(), build_request_fragments(r.view(), m)));
  EXPECT_EQ(v, json::parse(R"({"phase":"preHandler","request":{"path_params":{"id":"1"},"query_params":{"q":"z"},)"
                           R"("headers":{"authorization":"Bearer t"},"method":"DELETE"},"context":{}})"));
}

TEST(HttpRequestMapping, TargetSplitsAtTheQuestionMark) {
  EXPECT_EQ(target_path("/a/b?x=1?y"), "/a/b");
  EXPECT_EQ(target_query("/a/b?x=1?y"), "x=1?y");
  EXPECT_EQ(target_query("/a/b"), "");
}

// --- responses ---

std::string header(const HttpResponse& r, std::string_view name) {
  for (const auto& h : r.head.headers)
    if (h.name == name) return h.value;
  return "<absent>";
}

TEST(HttpResponseMapping, EnvelopeDefaults) {
  HttpResponse r = response_from_result(R"({})");
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "{}");
  EXPECT_EQ(header(r, "content-type"), "application/json");

  r = response_from_result(R"({"status_code":201,"body":{"ok":true,"n":5.0}})");
  EXPECT_EQ(r.head.status, 201);
  EXPECT_EQ(r.body, R"({"ok":true,"n":5.0})");  // spliced verbatim

  r = response_from_result(R"(42)");  // not an envelope
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "{}");
  r = response_from_result(R"(["a"])");
  EXPECT_EQ(r.body, "{}");
  r = response_from_result(R"({"status_code":"201"})");
  EXPECT_EQ(r.head.status, 200);
  r = response_from_result(R"({"status_code":1000})");
  EXPECT_EQ(r.head.status, 200);
  r = response_from_result(R"({"status_code":99})");
  EXPECT_EQ(r.head.status, 200);
  r = response_from_result(R"({"body":null})");
  EXPECT_EQ(r.body, "null");
  EXPECT_EQ(header(r, "content-type"), "application/json");
  r = response_from_result(R"({"body":"text"})");
  EXPECT_EQ(r.body, R"("text")");  // no content type: JSON
}

TEST(HttpResponseMapping, HeadersAsObjectOrLines) {
  HttpResponse r = response_from_result(R"({"headers":{"X-A":"1","X-N":5,"Bad Name":"x","X-CRLF":"a\r\nb"}})");
  EXPECT_EQ(header(r, "X-A"), "1");
  EXPECT_EQ(header(r, "X-N"), "<absent>");
  EXPECT_EQ(header(r, "Bad Name"), "<absent>");
  EXPECT_EQ(header(r, "X-CRLF"), "<absent>");
  r = response_from_result(R"({"headers":["X-A: one","no-colon",7,null," X-B :  two words "]})");
  EXPECT_EQ(header(r, "X-A"), "one");
  EXPECT_EQ(header(r, "X-B"), "two words");
  EXPECT_EQ(r.head.headers.size(), 3u);  // + content-type
  r = response_from_result(R"({"headers":["Set-Cookie: a=1","Set-Cookie: b=2"]})");
  int cookies = 0;
  for (const auto& h : r.head.headers) cookies += h.name == "Set-Cookie";
  EXPECT_EQ(cookies, 2);
  r = response_from_result(R"({"headers":{"Content-Length":"99","Transfer-Encoding":"chunked","Connection":"close"}})");
  EXPECT_EQ(r.head.headers.size(), 1u);  // framing headers are the server's
}

TEST(HttpResponseMapping, ContentTypeRulesForTheBody) {
  HttpResponse r = response_from_result(R"({"headers":{"Content-Type":"text/xml"},"body":"<a>\"x\"</a>"})");
  EXPECT_EQ(r.body, "<a>\"x\"</a>");  // string: raw bytes
  EXPECT_EQ(header(r, "Content-Type"), "text/xml");
  EXPECT_EQ(r.head.headers.size(), 1u);

  r = response_from_result(R"({"headers":["content-type: text/plain"],"body":null})");
  EXPECT_EQ(r.body, "");

  r = response_from_result(R"({"headers":{"content-type":"text/plain"},"body":{"a":[1,2]}})");
  EXPECT_EQ(r.body, R"({"a":[1,2]})");  // non-JSON type, non-string: its JSON text
  EXPECT_EQ(header(r, "content-type"), "text/plain");

  r = response_from_result(R"({"headers":{"content-type":"application/json"},"body":"raw"})");
  EXPECT_EQ(r.body, "raw");  // a string is sent raw whatever the type

  r = response_from_result(R"({"headers":{"CONTENT-TYPE":"application/vnd.api+json"},"body":[1]})");
  EXPECT_EQ(r.body, "[1]");
  EXPECT_EQ(header(r, "content-type"), "<absent>");

  r = response_from_result(R"({"headers":{"content-type":"text/plain"}})");
  EXPECT_EQ(r.body, "{}");  // the default body is an object
}

TEST(HttpResponseMapping, ErrorEnvelopes) {
  HttpResponse r = not_found_response();
  EXPECT_EQ(r.head.status, 404);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"error":{"code":"NOT_FOUND","message":"Not Found"}})"));
  r = condition_not_met_response();
  EXPECT_EQ(r.head.status, 422);
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"error":{"code":"CONDITION_NOT_MET","message":"Request condition not met"},"skipped":true})"));
  r = error_response(500, "invocation_failed", "boom", true);
  json::object e = parse(r.body).at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "invocation_failed");
  EXPECT_EQ(e.at("message").as_string(), "boom");
  std::string id(e.at("error_id").as_string());
  EXPECT_FALSE(id.empty());
  EXPECT_LE(id.size(), 12u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(gateway_timeout_response().head.status, 504);
  EXPECT_EQ(gateway_timeout_response().body, "");
  EXPECT_EQ(parse(middleware_timeout_response().body).at("error").at("code").as_string(), "MIDDLEWARE_TIMEOUT");
  EXPECT_EQ(payload_too_large_response().head.status, 413);
}

TEST(HttpResponseMapping, MiddlewareAnswers) {
  HttpResponse r;
  EXPECT_FALSE(middleware_responds(R"({"action":"continue"})", r));
  EXPECT_FALSE(middleware_responds(R"({"action":"other"})", r));
  EXPECT_FALSE(middleware_responds(R"(null)", r));
  EXPECT_FALSE(middleware_responds(R"("respond")", r));
  ASSERT_TRUE(middleware_responds(
      R"({"action":"respond","response":{"status_code":401,"body":{"error":"no"},"headers":{"WWW-Authenticate":"Bearer"}}})", r));
  EXPECT_EQ(r.head.status, 401);
  EXPECT_EQ(r.body, R"({"error":"no"})");
  EXPECT_EQ(header(r, "content-type"), "application/json");
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer");
  ASSERT_TRUE(middleware_responds(R"({"action":"respond"})", r));
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "null");
  ASSERT_TRUE(middleware_responds(R"({"action":"respond","response":{"headers":{"a":"1","b":2}}})", r));
  EXPECT_EQ(header(r, "a"), "<absent>");  // one non-string value drops the map
  ASSERT_TRUE(middleware_responds(R"({"action":"respond","response":{"body":"hi","headers":{"Content-Type":"text/plain"}}})", r));
  EXPECT_EQ(header(r, "content-type"), "<absent>");
  EXPECT_EQ(header(r, "Content-Type"), "text/plain");
  EXPECT_EQ(r.body, R"("hi")");
}

TEST(HttpResponseMapping, ControlMessages) {
  HttpResponseHead head;
  EXPECT_TRUE(apply_control_message(R"({"type":"set_status","status_code":201})", head));
  EXPECT_EQ(head.status, 201);
  EXPECT_FALSE(apply_control_message(R"({"type":"set_status","status_code":600})", head));
  EXPECT_FALSE(apply_control_message(R"({"type":"set_status","status_code":"404"})", head));
  EXPECT_EQ(head.status, 201);
  EXPECT_TRUE(apply_control_message(R"({"type":"set_headers","headers":{"content-type":"text/csv","x-n":1}})", head));
  EXPECT_TRUE(apply_control_message(R"({"type":"set_headers","headers":{"content-type":"text/plain"}})", head));
  ASSERT_EQ(head.headers.size(), 1u);
  EXPECT_EQ(head.headers[0].value, "text/plain");
  EXPECT_FALSE(apply_control_message("not json", head));
  EXPECT_FALSE(apply_control_message(R"({"type":"other"})", head));
}

TEST(HttpWire, BufferedResponse) {
  HttpResponse r = response_from_result(R"({"status_code":201,"headers":{"X-A":"1"},"body":{"ok":true}})");
  ResponseFraming f;
  f.extra_headers = "access-control-allow-origin: *\r\n";
  EXPECT_EQ(serialize_response(r, f),
            "HTTP/1.1 201 Created\r\nX-A: 1\r\ncontent-type: application/json\r\naccess-control-allow-origin: *\r\n"
            "content-length: 11\r\n\r\n{\"ok\":true}");
  f.keep_alive = false;
  f.extra_headers = {};
  f.head_request = true;
  EXPECT_EQ(serialize_response(r, f),
            "HTTP/1.1 201 Created\r\nX-A: 1\r\ncontent-type: application/json\r\ncontent-length: 11\r\n"
            "connection: close\r\n\r\n");
  f = ResponseFraming{};
  f.http10 = true;
  EXPECT_NE(serialize_response(r, f).find("connection: keep-alive\r\n"), std::string::npos);
  HttpResponse empty;
  empty.head.status = 204;
  empty.body = "{}";
  EXPECT_EQ(serialize_response(empty, ResponseFraming{}), "HTTP/1.1 204 No Content\r\n\r\n");
  HttpResponse odd;
  odd.head.status = 299;
  EXPECT_EQ(serialize_response(odd, ResponseFraming{}), "HTTP/1.1 299 \r\ncontent-length: 0\r\n\r\n");
}

TEST(HttpWire, ExtraHeadersReplaceUserHeadersOfTheSameName) {
  HttpResponse r = response_from_result(R"({"headers":{"Access-Control-Allow-Origin":"https://x","Vary":"a"}})");
  ResponseFraming f;
  f.extra_headers = "access-control-allow-origin: *\r\nvary: origin\r\n";
  std::string wire = serialize_response(r, f);
  EXPECT_EQ(wire.find("https://x"), std::string::npos);
  EXPECT_EQ(wire.find("Vary: a"), std::string::npos);
}

TEST(HttpWire, StreamedResponse) {
  HttpResponseHead head;
  head.status = 201;
  set_response_header(head, "content-type", "text/plain");
  std::string out = serialize_stream_head(head, ResponseFraming{});
  EXPECT_EQ(out, "HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n");
  append_body_chunk(out, "hello", true);
  append_body_chunk(out, "", true);  // never a premature terminator
  append_body_chunk(out, std::string(20, 'x'), true);
  out += kLastChunk;
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), "5\r\nhello\r\n14\r\n" + std::string(20, 'x') + "\r\n0\r\n\r\n");
  ResponseFraming old;
  old.http10 = true;
  old.keep_alive = false;
  EXPECT_EQ(serialize_stream_head(head, old), "HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n");
  std::string raw;
  append_body_chunk(raw, "abc", false);
  EXPECT_EQ(raw, "abc");
}

TEST(HttpWire, HeaderValidation) {
  EXPECT_TRUE(valid_header_name("X-Custom_1.2~"));
  EXPECT_FALSE(valid_header_name(""));
  EXPECT_FALSE(valid_header_name("a b"));
  EXPECT_FALSE(valid_header_name("a:b"));
  EXPECT_TRUE(valid_header_value("a\tb caf\xC3\xA9"));
  EXPECT_FALSE(valid_header_value("a\nb"));
  EXPECT_FALSE(valid_header_value(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace iii
