// Who may use the console and what it may call (docs/builtins.md §15.2, §15.3).
//
// - The pages call a fixed set of functions (is_page_function): the engine's introspection and
//   observability queries, the queue admin functions, state and stream reads, state::set and
//   iii::cron::fire. Nothing else is reachable through POST /api/call or the live socket.
// - The Functions page's invoke form calls what `invocable` allows (is_invocable): by default every
//   function except the engine's own `engine::*` ones.
// - A token, when configured, is required on every API request and live socket (token_matches).
// - Requests from another site are refused (same_site): a browser page elsewhere cannot drive the
//   console of a loopback engine, nor reach it through a DNS name pointing at 127.0.0.1.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace iii {

bool is_page_function(std::string_view function_id);

bool is_invocable(const std::vector<std::string>& patterns, std::string_view function_id);

// Compares in time independent of where the strings differ. An empty `expected` matches anything.
bool token_matches(std::string_view expected, std::string_view given);

// The token a request carries: `Authorization: Bearer <t>`, else the `iii_console_token` cookie,
// else the `token` query parameter (a browser cannot set headers on a WebSocket).
std::string request_token(std::string_view authorization, std::string_view cookie, std::string_view query);

// Whether a request with these `Host` and `Origin` headers (either may be empty) comes from the
// console's own pages: the Origin, when present, names the same host as `Host` (the live socket is
// on another port of the same host, so ports are not compared), and on a loopback console
// without token the Host is a loopback name (no DNS rebinding).
bool same_site(std::string_view host_header, std::string_view origin_header, bool require_loopback_host);

}  // namespace iii
