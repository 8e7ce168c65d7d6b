// HTTP request → function payload (protocol.md §7, builtins.md §1.4). Pure functions over a
// parsed request; the JSON is written directly (no DOM), and the request body, when it is JSON, is
// validated and spliced in verbatim.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "workers/http/route_table.h"

namespace iii {

struct HttpHeaderView {
  std::string_view name;  // as received (any case)
  std::string_view value;
};

// The parts of a request the mapping reads. Views stay valid for the whole exchange.
struct HttpRequestView {
  std::string_view method;  // as received, e.g. "POST"
  std::string_view target;  // origin-form: path[?query]
  const std::vector<HttpHeaderView>* headers = nullptr;
  std::string_view body;
};

// The JSON objects shared by the handler payload, the condition payload and middleware input.
struct RequestFragments {
  std::string query_params;  // {"k":"v"}: form-decoded, last value wins
  std::string path_params;   // {"name":"raw segment"}
  std::string headers;       // {"lower-case-name":"value"}: last value wins
};

// The path part of a request target (before '?'); the query part (after '?', may be empty).
std::string_view target_path(std::string_view target);
std::string_view target_query(std::string_view target);

// Calls `fn(key, value)` for each `k=v` pair of a query string, form-decoded ('+' is a space,
// %XX sequences decoded, malformed escapes kept as is). Empty pairs are skipped.
template <class Fn>
void for_each_query_param(std::string_view query, Fn&& fn);
std::string form_decode(std::string_view text);

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

// --- template definition ---

template <class Fn>
void for_each_query_param(std::string_view query, Fn&& fn) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(start, amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string_view key = pair.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      fn(form_decode(key), form_decode(value));
    }
    start = amp + 1;
  }
}

}  // namespace iii
