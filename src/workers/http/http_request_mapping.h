// HTTP request → function payload (docs/protocol.md §7, docs/builtins.md §1.4). Pure functions over a
// parsed request; the JSON is written directly (no DOM), and the request body, when it is JSON, is
// validated and spliced in verbatim.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/request_target.h"
#include "net/http_transport.h"
#include "workers/http/route_table.h"

namespace iii {

// The JSON objects shared by the handler payload, the condition payload and middleware input.
struct RequestFragments {
  std::string query_params;  // {"k":"v"}: form-decoded, last value wins
  std::string path_params;   // {"name":"raw segment"}
  std::string headers;       // {"lower-case-name":"value"}: last value wins
};

// The value of the first header named `name` (case-insensitive), or "".
std::string_view find_header(const HttpRequestView& request, std::string_view lower_name);

RequestFragments build_request_fragments(const HttpRequestView& request, const RouteMatch& match);

// "null", or the request body when the content type contains application/json and the body is
// valid JSON.
std::string body_json(const HttpRequestView& request);

// {"query_params":…,"path_params":…,"headers":…,"path":…,"method":…,"body":…,"trigger":{…}
// without the closing brace. Append channel refs (handler) or just "}" (condition).
std::string build_payload_prefix(const HttpRequestView& request, const HttpRoute& route, const RequestFragments& f,
                                 std::string_view body_json);
// The handler's payload: the prefix plus request_body (reader ref) and response (writer ref).
std::string finish_handler_payload(std::string prefix, std::string_view request_body_ref, std::string_view response_ref);
// The condition's payload: the prefix without channel refs.
std::string finish_condition_payload(std::string_view prefix);

// {"phase":"preHandler","request":{"path_params":…,"query_params":…,"headers":…,"method":…},"context":{}}
std::string build_middleware_input(const HttpRequestView& request, const RequestFragments& f);

// Appends `text` as a JSON string, replacing invalid UTF-8 with U+FFFD.
void append_json_string_lossy(std::string& out, std::string_view text);

}  // namespace iii
