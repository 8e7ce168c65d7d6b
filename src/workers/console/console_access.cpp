#include "workers/console/console_access.h"

#include <array>

#include "core/access.h"
#include "core/request_target.h"
#include "workers/console/console_config.h"

namespace iii {
namespace {

constexpr std::array<std::string_view, 27> kPageFunctions = {
    // dashboard, workers, functions, triggers (docs/builtins.md §7.1)
    "engine::workers::list", "engine::workers::info", "engine::functions::list", "engine::functions::info",
    "engine::triggers::list", "engine::registered-triggers::list", "iii::cron::fire",
    // observability (docs/observability.md)
    "engine::metrics::list", "engine::traces::list", "engine::traces::tree", "engine::logs::list",
    "engine::health::check",
    // queues (§3.3)
    "engine::queue::list_topics", "engine::queue::topic_stats", "engine::queue::dlq_topics",
    "engine::queue::dlq_messages", "iii::queue::redrive", "iii::queue::redrive_message",
    "iii::queue::discard_message",
    // state (§2.2)
    "state::list_groups", "state::list_keys", "state::get", "state::set",
    // streams (§6.2)
    "stream::list_all", "stream::list_groups", "stream::list", "stream::get"};

// "host:port" → "host" ("[::1]:80" → "[::1]").
std::string_view host_part(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  return authority.substr(0, authority.find(':'));
}

}  // namespace

bool is_page_function(std::string_view function_id) {
  for (std::string_view f : kPageFunctions)
    if (f == function_id) return true;
  return false;
}

bool is_invocable(const std::vector<std::string>& patterns, std::string_view function_id) {
  for (const std::string& p : patterns) {
    if (p == "*") {
      if (!function_id.starts_with("engine::")) return true;
    } else if (glob_match(p, function_id)) {  // the RBAC globs (core/access.h)
      return true;
    }
  }
  return false;
}

bool token_matches(std::string_view expected, std::string_view given) {
  if (expected.empty()) return true;
  unsigned char diff = expected.size() != given.size();
  for (size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  return diff == 0;
}

std::string request_token(std::string_view authorization, std::string_view cookie, std::string_view query) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.starts_with(kBearer)) return std::string(authorization.substr(kBearer.size()));
  constexpr std::string_view kCookie = "iii_console_token=";
  while (!cookie.empty()) {
    const size_t end = cookie.find(';');
    std::string_view part = cookie.substr(0, end);
    while (part.starts_with(' ')) part.remove_prefix(1);
    if (part.starts_with(kCookie)) return form_decode(part.substr(kCookie.size()));
    if (end == std::string_view::npos) break;
    cookie.remove_prefix(end + 1);
  }
  std::string token;
  for_each_query_param(query, [&](std::string key, std::string value) {
    if (key == "token") token = std::move(value);
  });
  return token;
}

bool same_site(std::string_view host_header, std::string_view origin_header, bool require_loopback_host) {
  const std::string_view host = host_part(host_header);
  if (require_loopback_host && !is_loopback_host(host)) return false;
  if (origin_header.empty()) return true;  // not a browser's cross-site request
  const size_t scheme = origin_header.find("://");
  if (scheme == std::string_view::npos) return false;
  return host_part(origin_header.substr(scheme + 3)) == host;
}

}  // namespace iii
