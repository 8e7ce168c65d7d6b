// An HTTP request target in origin form (`/path?k=v&…`): its path, its query, and the query's
// form-decoded parameters. Shared by the HTTP trigger (workers/http) and the channel endpoint of
// the worker listener (net/channel_session.cpp).
#pragma once
#include <string>
#include <string_view>

namespace iii {

// The part before '?'; the part after it ("" when there is none).
std::string_view target_path(std::string_view target);
std::string_view target_query(std::string_view target);

// Form decoding: '+' is a space, %XX a byte; a malformed escape is kept as written.
std::string form_decode(std::string_view text);

// Calls `fn(key, value)` for each `k=v` pair of a query string, both form-decoded, in order.
// Empty pairs are skipped; a pair without '=' has an empty value.
template <class Fn>
void for_each_query_param(std::string_view query, Fn&& fn) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(start, amp - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      const std::string_view key = pair.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      fn(form_decode(key), form_decode(value));
    }
    start = amp + 1;
  }
}

}  // namespace iii
