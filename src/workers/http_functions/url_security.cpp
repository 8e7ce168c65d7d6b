#include "workers/http_functions/url_security.h"

#include <arpa/inet.h>

#include <boost/url/parse.hpp>

#include <cstdlib>
#include <vector>
#include <cstring>

#include "core/access.h"

namespace iii {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr uint32_t v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | d;
}

// Every IPv4 block that is not the public internet (IANA special-purpose registry), one
// "<network>/<bits> <kind>" per line.
constexpr std::string_view kV4Blocks = R"(0.0.0.0/8 unspecified (0.0.0.0/8)
10.0.0.0/8 private (RFC 1918)
100.64.0.0/10 shared (carrier-grade NAT)
127.0.0.0/8 loopback
169.254.0.0/16 link-local (cloud metadata lives here)
172.16.0.0/12 private (RFC 1918)
192.0.0.0/24 IETF protocol assignment
192.88.99.0/24 6to4 relay
192.168.0.0/16 private (RFC 1918)
198.18.0.0/15 benchmarking
224.0.0.0/4 multicast
240.0.0.0/4 reserved
255.255.255.255/32 broadcast)";

struct V4Block {
  uint32_t base, mask;
  std::string kind;
};

const std::vector<V4Block>& v4_blocks() {
  static const std::vector<V4Block> blocks = [] {
    std::vector<V4Block> out;
    for (size_t at = 0; at < kV4Blocks.size();) {
      size_t end = kV4Blocks.find('\n', at);
      if (end == std::string_view::npos) end = kV4Blocks.size();
      const std::string_view line = kV4Blocks.substr(at, end - at);
      const size_t slash = line.find('/'), space = line.find(' ');
      in_addr a{};
      inet_pton(AF_INET, std::string(line.substr(0, slash)).c_str(), &a);
      const int bits = std::atoi(std::string(line.substr(slash + 1, space - slash - 1)).c_str());
      out.push_back({ntohl(a.s_addr), bits == 0 ? 0 : ~uint32_t(0) << (32 - bits), std::string(line.substr(space + 1))});
      at = end + 1;
    }
    return out;
  }();
  return blocks;
}

std::optional<std::string> v4_kind(uint32_t a) {
  for (const V4Block& b : v4_blocks())
    if ((a & b.mask) == b.base) return b.kind;
  return std::nullopt;
}

std::optional<std::string> v6_kind(const uint8_t* b) {
  auto zero = [&](int from, int to) {
    for (int i = from; i < to; ++i)
      if (b[i]) return false;
    return true;
  };
  auto embedded_v4 = [&](int at) { return v4(b[at], b[at + 1], b[at + 2], b[at + 3]); };
  if (zero(0, 16)) return "unspecified (::)";
  if (zero(0, 15) && b[15] == 1) return "loopback";
  if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) {  // ::ffff:a.b.c.d, IPv4-mapped
    if (auto k = v4_kind(embedded_v4(12))) return *k + " (IPv4-mapped)";
    return std::nullopt;
  }
  if (zero(0, 8) && b[8] == 0xff && b[9] == 0xff && zero(10, 12)) {  // ::ffff:0:a.b.c.d, IPv4-translated
    if (auto k = v4_kind(embedded_v4(12))) return *k + " (IPv4-translated)";
    return std::nullopt;
  }
  if (zero(0, 12)) return "IPv4-compatible (deprecated)";
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 && b[5] == 0x01)
    return "local-use NAT64 (64:ff9b:1::/48)";
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return "Teredo (2001::/32)";
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12)) {  // 64:ff9b::/96, NAT64
    if (auto k = v4_kind(embedded_v4(12))) return *k + " (NAT64)";
    return std::nullopt;
  }
  if (b[0] == 0x20 && b[1] == 0x02) {  // 2002::/16, 6to4
    if (auto k = v4_kind(embedded_v4(2))) return *k + " (6to4)";
    return std::nullopt;
  }
  if ((b[0] & 0xfe) == 0xfc) return "unique local (fc00::/7)";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local (fe80::/10)";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "site-local (deprecated)";
  if (b[0] == 0xff) return "multicast";
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return "documentation (2001:db8::/32)";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> non_public_address_kind(std::string_view ip) {
  const std::string text(ip);
  in_addr a4{};
  if (inet_pton(AF_INET, text.c_str(), &a4) == 1) return v4_kind(ntohl(a4.s_addr));
  in6_addr a6{};
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) return v6_kind(a6.s6_addr);
  return "not an IP address";
}

std::optional<std::string> check_address(const UrlSecurity& security, std::string_view ip) {
  if (!security.block_private_ips) return std::nullopt;
  if (auto kind = non_public_address_kind(ip))
    return std::string(ip) + " is a " + *kind + " address (block_private_ips is on)";
  return std::nullopt;
}

std::variant<FunctionUrl, std::string> check_function_url(const UrlSecurity& security, std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);  // a fragment is allowed, and never sent
  if (!parsed) return "`" + std::string(url) + "` is not an absolute URL (" + parsed.error().message() + ")";
  const auto& u = *parsed;
  FunctionUrl out;
  const std::string scheme = lower(u.scheme());
  if (scheme != "http" && scheme != "https") return "scheme `" + scheme + "` is not http or https";
  out.https = scheme == "https";
  if (!out.https && security.require_https) return "plain http is refused (require_https is on): use https";
  if (u.has_userinfo()) return "credentials in the URL are refused (use the invocation's auth)";
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4: out.host = std::string(u.host_address()); out.host_is_ip = true; break;
    case boost::urls::host_type::ipv6: out.host = lower(u.host_address()); out.host_is_ip = true; break;
    case boost::urls::host_type::name: out.host = lower(u.encoded_host()); break;
    default: return "the URL has no usable host";
  }
  if (out.host.empty()) return "the URL has no host";
  if (u.has_port()) {
    if (u.port_number() == 0) return "port `" + std::string(u.port()) + "` is not a valid port";
    out.port = u.port_number();
  } else {
    out.port = out.https ? 443 : 80;
  }
  std::string target(u.encoded_path());
  if (target.empty()) target = "/";
  if (u.has_query()) target += "?" + std::string(u.encoded_query());
  out.target = std::move(target);
  bool allowed = false;
  for (const std::string& pattern : security.url_allowlist)
    if (glob_match(lower(pattern), out.host)) allowed = true;
  if (!allowed) return "host `" + out.host + "` is not in url_allowlist";
  if (out.host_is_ip) {
    if (auto reason = check_address(security, out.host)) return *reason;
  }
  return out;
}

}  // namespace iii
