// What an HTTP-invoked function may call (docs/builtins.md, iii-http-functions "security"):
// the URL's scheme and host, and every address the host resolves to. Pure functions; the
// resolving is net/http_client's, which passes each address to check_address().
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace iii {

struct UrlSecurity {
  std::vector<std::string> url_allowlist{"*"};  // host globs (`*` any run); empty in config ⇒ ["*"]
  bool block_private_ips = true;
  bool require_https = true;

  bool operator==(const UrlSecurity&) const = default;
};

struct FunctionUrl {
  bool https = true;
  std::string host;  // lower case; an IPv6 literal without brackets
  uint16_t port = 443;
  std::string target = "/";  // path[?query], no fragment
  bool host_is_ip = false;
};

// Parses `url` and checks what needs no lookup: http(s) only (https when required), no user
// info, the host in the allowlist, and an IP literal host not private when those are blocked.
// The error is a sentence for url_validation_failed.
std::variant<FunctionUrl, std::string> check_function_url(const UrlSecurity& security, std::string_view url);

// Why `ip` ("10.0.0.1", "::1") must not be called under `security`, or nullopt.
std::optional<std::string> check_address(const UrlSecurity& security, std::string_view ip);

// The kind of a non-public address ("loopback", "private (RFC 1918)", "link-local", …), or
// nullopt for a public one. IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is judged by the IPv4.
// An unparsable address counts as non-public.
std::optional<std::string> non_public_address_kind(std::string_view ip);

}  // namespace iii
