// Function result → HTTP response (docs/protocol.md §7, docs/builtins.md §1.5), the server's error
// envelopes, middleware answers, and the HTTP/1.1 wire form of a response: one contiguous buffer
// (status line, headers, body) so that each response is a single write.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct ResponseHeader {
  std::string name;
  std::string value;
};

struct HttpResponseHead {
  int status = 200;
  std::vector<ResponseHeader> headers;  // validated names and values, in order
};

struct HttpResponse {
  HttpResponseHead head;
  std::string body;
};

// How the connection frames the response; supplied by the server.
struct ResponseFraming {
  bool keep_alive = true;
  bool http10 = false;        // the request was HTTP/1.0: no chunked encoding
  bool head_request = false;  // a HEAD request: headers only
  std::string_view extra_headers;  // preformatted "name: value\r\n" lines (CORS); replace same-named user headers
};

// The envelope a handler returned: status_code (default 200), headers (object, or array of
// "Name: value"), body (default {}), encoded by the content-type rules. `result` is non-empty JSON.
// Unparsable JSON yields a 500 INTERNAL_ERROR envelope.
HttpResponse response_from_result(std::string_view result);

// {"error":{"code":…,"message":…[,"error_id":…]}[,"skipped":true]} as application/json.
HttpResponse error_response(int status, std::string_view code, std::string_view message, bool with_error_id,
                            bool skipped = false);
HttpResponse not_found_response();            // 404 NOT_FOUND
HttpResponse condition_not_met_response();    // 422 CONDITION_NOT_MET, skipped:true
HttpResponse payload_too_large_response();    // 413 PAYLOAD_TOO_LARGE
HttpResponse gateway_timeout_response();      // 504, empty body (the whole request took too long)
HttpResponse middleware_timeout_response();   // 504 MIDDLEWARE_TIMEOUT
// Hex of the low 48 bits of the current Unix time in nanoseconds.
std::string new_error_id();

// A middleware's answer: false = continue (also for null, unknown actions, non-objects);
// true = respond with `out` (status default 200, body as JSON, headers a string map).
bool middleware_responds(std::string_view result, HttpResponse& out);

// A control message read from the response channel: {"type":"set_status","status_code":100..599}
// or {"type":"set_headers","headers":{…}}. Anything else is ignored. Returns true when applied.
bool apply_control_message(std::string_view text, HttpResponseHead& head);

// Adds (or replaces, by exact name) a header after validating it; false when invalid.
bool set_response_header(HttpResponseHead& head, std::string_view name, std::string_view value);

// The complete wire response with content-length framing.
std::string serialize_response(const HttpResponse& response, const ResponseFraming& framing);
// The header block of a streamed response: chunked for HTTP/1.1, close-delimited for HTTP/1.0.
std::string serialize_stream_head(const HttpResponseHead& head, const ResponseFraming& framing);
// Appends one body chunk (chunked: "<hex>\r\n<data>\r\n"; otherwise the raw bytes).
void append_body_chunk(std::string& out, std::string_view data, bool chunked);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

std::string_view reason_phrase(int status);
// False for 1xx, 204 and 304, whose responses never carry a body.
bool status_allows_body(int status);
bool valid_header_name(std::string_view name);
bool valid_header_value(std::string_view value);

}  // namespace iii
