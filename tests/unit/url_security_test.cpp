// What an HTTP-invoked function may call (workers/http_functions/url_security.h): the URL checks
// done before any lookup, and the address checks applied to every resolved address. Each SSRF
// target gets its own test so that a regression names the exact address that got through.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>

#include "workers/http_functions/url_security.h"

namespace iii {
namespace {

// The URL must be accepted; returns what it parsed to (a default FunctionUrl after a failure,
// so that the caller's later expectations fail too instead of crashing).
FunctionUrl accepted(const UrlSecurity& security, std::string_view url) {
  auto r = check_function_url(security, url);
  if (auto* why = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "`" << url << "` was refused: " << *why;
    return FunctionUrl{};
  }
  return std::get<FunctionUrl>(r);
}

// The URL must be refused; returns the sentence (empty after a failure).
std::string refused(const UrlSecurity& security, std::string_view url) {
  auto r = check_function_url(security, url);
  if (auto* u = std::get_if<FunctionUrl>(&r)) {
    ADD_FAILURE() << "`" << url << "` was accepted (host " << u->host << ")";
    return {};
  }
  return std::get<std::string>(r);
}

// How an IP is written as a URL host: IPv6 literals need brackets.
std::string url_for(std::string_view ip) {
  const bool v6 = ip.find(':') != std::string_view::npos;
  return std::string("https://") + (v6 ? "[" : "") + std::string(ip) + (v6 ? "]" : "") + "/hook";
}

// One non-public address, attacked both ways it can reach the engine: as an IP literal in the
// registration's URL (checked at registration) and as what a host name resolves to (checked by
// the HTTP client before connecting). Both refusals must name the address so that an operator can
// see what was blocked, and the kind must say why.
void expect_blocked(std::string_view ip, std::string_view kind_part) {
  SCOPED_TRACE(std::string(ip));
  const UrlSecurity defaults;
  const std::string from_url = refused(defaults, url_for(ip));
  EXPECT_NE(from_url.find(std::string(ip)), std::string::npos) << from_url;

  const std::optional<std::string> from_lookup = check_address(defaults, ip);
  ASSERT_TRUE(from_lookup.has_value());
  EXPECT_NE(from_lookup->find(std::string(ip)), std::string::npos) << *from_lookup;

  const std::optional<std::string> kind = non_public_address_kind(ip);
  ASSERT_TRUE(kind.has_value());
  EXPECT_NE(kind->find(std::string(kind_part)), std::string::npos) << *kind;
}

// A public address: allowed by URL and by lookup, and not classified as non-public.
void expect_public(std::string_view ip) {
  SCOPED_TRACE(std::string(ip));
  const UrlSecurity defaults;
  const FunctionUrl u = accepted(defaults, url_for(ip));
  EXPECT_EQ(u.host, ip);
  EXPECT_TRUE(u.host_is_ip);
  EXPECT_EQ(check_address(defaults, ip), std::nullopt);
  EXPECT_EQ(non_public_address_kind(ip), std::nullopt);
}

// --- SSRF: one test per attack address ---

TEST(UrlSecuritySsrf, Loopback127_0_0_1) { expect_blocked("127.0.0.1", "loopback"); }
// The whole /8 is loopback on Linux, not just .1.
TEST(UrlSecuritySsrf, LoopbackTopOf127Block) { expect_blocked("127.255.255.254", "loopback"); }
TEST(UrlSecuritySsrf, Ipv6Loopback) { expect_blocked("::1", "loopback"); }
// 0.0.0.0 connects to the local host on Linux.
TEST(UrlSecuritySsrf, Unspecified0_0_0_0) { expect_blocked("0.0.0.0", "unspecified"); }
TEST(UrlSecuritySsrf, Private10) { expect_blocked("10.0.0.1", "private"); }
TEST(UrlSecuritySsrf, Private172_16BottomOfBlock) { expect_blocked("172.16.0.1", "private"); }
TEST(UrlSecuritySsrf, Private172_31TopOfBlock) { expect_blocked("172.31.255.255", "private"); }
// Just past 172.16.0.0/12: a mask off by one bit would block it (or, the other way, let .31 in).
TEST(UrlSecuritySsrf, Public172_32JustOutsideThe12Block) { expect_public("172.32.0.1"); }
TEST(UrlSecuritySsrf, Public172_15JustBelowThe12Block) { expect_public("172.15.255.255"); }
TEST(UrlSecuritySsrf, Private192_168) { expect_blocked("192.168.1.1", "private"); }
// The cloud metadata service: the classic SSRF target (credentials of the engine's host).
TEST(UrlSecuritySsrf, CloudMetadata169_254_169_254) { expect_blocked("169.254.169.254", "link-local"); }
TEST(UrlSecuritySsrf, CarrierGradeNat100_64) { expect_blocked("100.64.0.1", "shared"); }
TEST(UrlSecuritySsrf, CarrierGradeNatEdges) {
  expect_blocked("100.127.255.255", "shared");  // top of 100.64.0.0/10
  expect_public("100.128.0.1");                  // first address past it
}
// IPv4 smuggled inside IPv6 is judged by the IPv4 it carries.
TEST(UrlSecuritySsrf, Ipv4MappedLoopback) { expect_blocked("::ffff:127.0.0.1", "IPv4-mapped"); }
TEST(UrlSecuritySsrf, Ipv4MappedMetadata) {
  expect_blocked("::ffff:169.254.169.254", "IPv4-mapped");
  EXPECT_NE(non_public_address_kind("::ffff:169.254.169.254")->find("link-local"), std::string::npos);
}
TEST(UrlSecuritySsrf, Ipv4MappedPublicIsAllowed) { expect_public("::ffff:8.8.8.8"); }
// 64:ff9b::a00:1 is 10.0.0.1 through a NAT64 gateway.
TEST(UrlSecuritySsrf, Nat64OfPrivate) { expect_blocked("64:ff9b::a00:1", "NAT64"); }
// 2002:a00:1::1 is the 6to4 prefix of 10.0.0.1.
TEST(UrlSecuritySsrf, SixToFourOfPrivate) { expect_blocked("2002:a00:1::1", "6to4"); }
TEST(UrlSecuritySsrf, UniqueLocalFc00) { expect_blocked("fc00::1", "unique local"); }
TEST(UrlSecuritySsrf, UniqueLocalFd12) { expect_blocked("fd12::1", "unique local"); }
TEST(UrlSecuritySsrf, Ipv6LinkLocal) { expect_blocked("fe80::1", "link-local"); }
TEST(UrlSecuritySsrf, Ipv6Multicast) { expect_blocked("ff02::1", "multicast"); }
TEST(UrlSecuritySsrf, PublicIpv4Allowed) { expect_public("8.8.8.8"); }
TEST(UrlSecuritySsrf, PublicIpv6Allowed) { expect_public("2606:4700::1111"); }

// What a resolver hands back is not always an address; anything unparsable fails closed.
// Prefixes that carry (or hide) an IPv4 address and are not routed on the public internet.
TEST(UrlSecuritySsrf, Ipv4TranslatedLoopback) { expect_blocked("::ffff:0:127.0.0.1", "loopback (IPv4-translated)"); }
TEST(UrlSecuritySsrf, LocalUseNat64) { expect_blocked("64:ff9b:1::a00:1", "local-use NAT64"); }
TEST(UrlSecuritySsrf, Teredo) { expect_blocked("2001:0:4136:e378::1", "Teredo"); }
TEST(UrlSecuritySsrf, Ipv4TranslatedPublicIsPublic) { expect_public("::ffff:0:808:808"); }

TEST(UrlSecuritySsrf, UnparsableAddressIsRefused) {
  EXPECT_TRUE(non_public_address_kind("not-an-ip").has_value());
  EXPECT_TRUE(check_address(UrlSecurity{}, "not-an-ip").has_value());
  EXPECT_TRUE(non_public_address_kind("").has_value());
}

// The operator's opt-out: with block_private_ips off the same addresses go through, both as URL
// literals and as resolved addresses, while the classification itself is unchanged.
TEST(UrlSecurity, BlockPrivateIpsOffAllowsThem) {
  UrlSecurity open;
  open.block_private_ips = false;
  for (std::string_view ip : {"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd12::1", "::ffff:127.0.0.1"}) {
    SCOPED_TRACE(std::string(ip));
    const FunctionUrl u = accepted(open, url_for(ip));
    EXPECT_EQ(u.host, ip);
    EXPECT_TRUE(u.host_is_ip);
    EXPECT_EQ(check_address(open, ip), std::nullopt);
    EXPECT_TRUE(non_public_address_kind(ip).has_value());
  }
}

// A name host is not resolved here (that is the HTTP client's job, through check_address), so a
// name passes even though it may later resolve to a private address.
TEST(UrlSecurity, HostNameIsNotAnIpLiteral) {
  const FunctionUrl u = accepted(UrlSecurity{}, "https://localhost/x");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_FALSE(u.host_is_ip);
}

// --- scheme and https ---

TEST(UrlSecurity, RequireHttpsRefusesPlainHttp) {
  const std::string why = refused(UrlSecurity{}, "http://example.com/hook");
  EXPECT_NE(why.find("https"), std::string::npos) << why;
}

TEST(UrlSecurity, RequireHttpsOffAllowsPlainHttpOnPort80) {
  UrlSecurity s;
  s.require_https = false;
  const FunctionUrl u = accepted(s, "http://example.com/hook");
  EXPECT_FALSE(u.https);
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.host, "example.com");
}

// The scheme is case-insensitive (RFC 3986 §3.1); upper case must not dodge the https rule.
TEST(UrlSecurity, SchemeCaseIsIgnored) {
  EXPECT_TRUE(accepted(UrlSecurity{}, "HTTPS://example.com/").https);
  const std::string why = refused(UrlSecurity{}, "HTTP://example.com/");
  EXPECT_NE(why.find("https"), std::string::npos) << why;
}

// Only http(s): the other schemes would read local files or make the client speak another
// protocol. Refused even with require_https off.
TEST(UrlSecurity, FtpSchemeRefused) {
  UrlSecurity s;
  s.require_https = false;
  const std::string why = refused(s, "ftp://example.com/file");
  EXPECT_NE(why.find("ftp"), std::string::npos) << why;
}

TEST(UrlSecurity, FileSchemeRefused) {
  UrlSecurity s;
  s.require_https = false;
  const std::string why = refused(s, "file:///etc/passwd");
  EXPECT_NE(why.find("file"), std::string::npos) << why;
}

TEST(UrlSecurity, JavascriptSchemeRefused) {
  UrlSecurity s;
  s.require_https = false;
  refused(s, "javascript:alert(1)");
  refused(s, "javascript:");
}

TEST(UrlSecurity, RelativeOrGarbageUrlRefused) {
  refused(UrlSecurity{}, "example.com/hook");
  refused(UrlSecurity{}, "/hook");
  refused(UrlSecurity{}, "");
  refused(UrlSecurity{}, "https://");
}

// --- user info ---

// Credentials in the URL are refused: they would be logged with the URL, and
// "https://trusted@evil" is a classic way to make a URL look like it goes somewhere else.
TEST(UrlSecurity, UserInfoRefused) {
  const std::string why = refused(UrlSecurity{}, "https://user:pw@example.com/");
  EXPECT_NE(why.find("credentials"), std::string::npos) << why;
  refused(UrlSecurity{}, "https://user@example.com/");
  refused(UrlSecurity{}, "https://example.com@127.0.0.1/");
}

// --- allowlist ---

UrlSecurity allow_only(std::string pattern) {
  UrlSecurity s;
  s.url_allowlist = {std::move(pattern)};
  return s;
}

TEST(UrlSecurity, AllowlistGlobMatchesSubdomain) {
  EXPECT_EQ(accepted(allow_only("*.example.com"), "https://api.example.com/x").host, "api.example.com");
  EXPECT_EQ(accepted(allow_only("*.example.com"), "https://a.b.example.com/x").host, "a.b.example.com");
}

// "*.example.com" requires the dot: the apex is a different host.
TEST(UrlSecurity, AllowlistGlobDoesNotMatchApex) {
  const std::string why = refused(allow_only("*.example.com"), "https://example.com/x");
  EXPECT_NE(why.find("example.com"), std::string::npos) << why;
  EXPECT_NE(why.find("url_allowlist"), std::string::npos) << why;
}

TEST(UrlSecurity, AllowlistGlobRefusesOtherHost) {
  const std::string why = refused(allow_only("*.example.com"), "https://evil.com/x");
  EXPECT_NE(why.find("evil.com"), std::string::npos) << why;
}

// The glob is anchored at the end: an attacker-owned suffix must not match.
TEST(UrlSecurity, AllowlistGlobIsAnchored) {
  refused(allow_only("*.example.com"), "https://api.example.com.evil.com/x");
  refused(allow_only("*.example.com"), "https://api.example.computer/x");
}

// Host names are case-insensitive (DNS), in the URL and in the pattern.
TEST(UrlSecurity, AllowlistIsCaseInsensitive) {
  const FunctionUrl u = accepted(allow_only("*.example.com"), "https://API.Example.COM/x");
  EXPECT_EQ(u.host, "api.example.com");  // stored lower case
  EXPECT_EQ(accepted(allow_only("*.EXAMPLE.com"), "https://api.example.com/").host, "api.example.com");
}

// The allowlist applies to IP literals too; an allowlist of names does not let any IP through.
TEST(UrlSecurity, AllowlistAppliesToIpLiterals) {
  const std::string why = refused(allow_only("*.example.com"), "https://8.8.8.8/");
  EXPECT_NE(why.find("8.8.8.8"), std::string::npos) << why;
}

TEST(UrlSecurity, AllowlistAnyOfSeveralPatterns) {
  UrlSecurity s;
  s.url_allowlist = {"hooks.example.org", "*.example.com"};
  accepted(s, "https://hooks.example.org/");
  accepted(s, "https://x.example.com/");
  refused(s, "https://other.example.org/");
}

// --- what the URL parses to ---

TEST(UrlSecurity, HttpsDefaultsToPort443) {
  const FunctionUrl u = accepted(UrlSecurity{}, "https://example.com/hook");
  EXPECT_TRUE(u.https);
  EXPECT_EQ(u.port, 443);
  EXPECT_FALSE(u.host_is_ip);
}

TEST(UrlSecurity, ExplicitPortKept) {
  EXPECT_EQ(accepted(UrlSecurity{}, "https://example.com:8443/hook").port, 8443);
  UrlSecurity s;
  s.require_https = false;
  EXPECT_EQ(accepted(s, "http://example.com:8080/").port, 8080);
}

TEST(UrlSecurity, InvalidPortRefused) {
  refused(UrlSecurity{}, "https://example.com:0/");
  refused(UrlSecurity{}, "https://example.com:65536/");
}

// The request target keeps path and query as written (percent-encoding included).
TEST(UrlSecurity, TargetKeepsPathAndQuery) {
  EXPECT_EQ(accepted(UrlSecurity{}, "https://example.com/a/b?x=1&y=%20").target, "/a/b?x=1&y=%20");
}

// A fragment is client-side only (RFC 9110 §7.1): the URL is accepted and the fragment never goes
// on the wire.
TEST(UrlSecurity, TargetDropsFragment) {
  EXPECT_EQ(accepted(UrlSecurity{}, "https://example.com/a/b?x=1#frag").target, "/a/b?x=1");
  EXPECT_EQ(accepted(UrlSecurity{}, "https://example.com/a#frag").target, "/a");
}

TEST(UrlSecurity, EmptyPathBecomesSlash) {
  EXPECT_EQ(accepted(UrlSecurity{}, "https://example.com").target, "/");
  EXPECT_EQ(accepted(UrlSecurity{}, "https://example.com?q=1").target, "/?q=1");
}

// The host goes to the resolver and into Host/SNI, so an IPv6 literal is kept without brackets
// (the client adds them back for the Host header) and lower-cased.
TEST(UrlSecurity, Ipv6LiteralHostHasNoBrackets) {
  const FunctionUrl u = accepted(UrlSecurity{}, "https://[2606:4700::ABCD]:8443/x?y=1");
  EXPECT_EQ(u.host, "2606:4700::abcd");
  EXPECT_TRUE(u.host_is_ip);
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.target, "/x?y=1");
}

}  // namespace
}  // namespace iii
