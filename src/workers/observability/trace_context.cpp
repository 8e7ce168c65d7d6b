#include "workers/observability/trace_context.h"

#include <chrono>
#include <random>

namespace iii::obs {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Lower-case hex of exactly `n` digits, or empty when `s` is not that.
std::string lower_hex(std::string_view s, size_t n) {
  if (s.size() != n) return {};
  std::string out(s);
  bool nonzero = false;
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
    nonzero |= c != '0';
  }
  return nonzero ? out : std::string();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// xoshiro-style generator per thread: ids must be unique, not secret, and cheap on every call.
std::mt19937_64& generator() {
  thread_local std::mt19937_64 g([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }());
  return g;
}

void append_random_hex(std::string& out, size_t digits) {
  auto& g = generator();
  while (digits > 0) {
    uint64_t v = g();
    for (int i = 0; i < 16 && digits > 0; ++i, --digits, v >>= 4) out += kHex[v & 0xf];
  }
}

std::string random_id(size_t digits) {
  std::string id;
  id.reserve(digits);
  do {
    id.clear();
    append_random_hex(id, digits);
  } while (id.find_first_not_of('0') == std::string::npos);
  return id;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view v) {
  v = trim(v);
  // version(2) - trace(32) - span(16) - flags(2): 55 characters for version 00.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  const int ver_hi = hex_value(v[0]), ver_lo = hex_value(v[1]);
  if (ver_hi < 0 || ver_lo < 0 || (ver_hi == 15 && ver_lo == 15)) return std::nullopt;
  if (ver_hi == 0 && ver_lo == 0 && v.size() != 55) return std::nullopt;
  if (v.size() > 55 && v[55] != '-') return std::nullopt;
  TraceParent tp;
  tp.trace_id = lower_hex(v.substr(3, 32), 32);
  tp.span_id = lower_hex(v.substr(36, 16), 16);
  const int f_hi = hex_value(v[53]), f_lo = hex_value(v[54]);
  if (tp.trace_id.empty() || tp.span_id.empty() || f_hi < 0 || f_lo < 0) return std::nullopt;
  tp.flags = static_cast<uint8_t>(f_hi * 16 + f_lo);
  return tp;
}

std::string format_traceparent(std::string_view trace_id, std::string_view span_id, bool sampled) {
  std::string out;
  out.reserve(55);
  out += "00-";
  out += trace_id;
  out += '-';
  out += span_id;
  out += sampled ? "-01" : "-00";
  return out;
}

void random_id_bytes(uint8_t* out, size_t n) {
  auto& g = generator();
  bool nonzero = false;
  while (!nonzero) {
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t v = g();
      for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    for (size_t i = 0; i < n && !nonzero; ++i) nonzero = out[i] != 0;
  }
}

std::string new_trace_id() { return random_id(32); }
std::string new_span_id() { return random_id(16); }

std::vector<std::pair<std::string, std::string>> parse_baggage(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view member = value.substr(start, end - start);
    member = member.substr(0, member.find(';'));  // properties are not kept
    const size_t eq = member.find('=');
    if (eq != std::string_view::npos) {
      std::string_view k = trim(member.substr(0, eq)), val = trim(member.substr(eq + 1));
      if (!k.empty()) out.emplace_back(percent_decode(k), percent_decode(val));
    }
    start = end + 1;
  }
  return out;
}

uint64_t unix_nanos_now() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace iii::obs
